package registry

import "context"

type sentKey struct{}

// WithSent returns a context for one Sink.Write call whose Sent calls
// release. The runtime uses it; sinks only call Sent.
func WithSent(ctx context.Context, release func()) context.Context {
	return context.WithValue(ctx, sentKey{}, release)
}

// Sent is what a Sink.Write calls once every message of the call is
// queued with its transport, in order, and only acknowledgements remain
// to wait for. The runtime then hands the next write to the sink while
// this one waits, so several writes are in flight (Kafka, NATS and AMQP
// acknowledge asynchronously). A sink that never calls it is written one
// call at a time. Calling it twice, or with a context the runtime did not
// make, does nothing.
func Sent(ctx context.Context) {
	if release, ok := ctx.Value(sentKey{}).(func()); ok {
		release()
	}
}
