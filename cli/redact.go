package cli

import "github.com/flowrun/flowrun/redact"

// redacted returns io with stdout and stderr passing through r, so no
// secret r knows (nor a URL password) is printed.
func (io IO) redacted(r *redact.Redactor) IO {
	io.Stdout, io.Stderr = r.Writer(io.Stdout), r.Writer(io.Stderr)
	return io
}
