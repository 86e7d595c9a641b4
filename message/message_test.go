package message

import "testing"

func TestAsReadGivesKeyAndMetaAsRead(t *testing.T) {
	m := &Message{ID: "1", Key: "orig", Topic: "t", Meta: map[string]string{"h": "orig"}, Raw: []byte("x"), Partition: 2, Offset: 7, Ref: "ref"}
	m.Tracker = NewTracker(m, func(*Tracker) {})
	m.Key = "changed"
	m.SetMeta("h", "changed")
	m.SetPayload("p")
	got := m.AsRead()
	if got.Key != "orig" || got.Meta["h"] != "orig" || got.Partition != 2 || got.Offset != 7 || got.Ref != "ref" ||
		string(got.Raw) != "x" || got.Decoded || got.Payload != nil || got.Tracker != nil {
		t.Fatalf("AsRead = %+v", got)
	}
	untracked := &Message{ID: "2", Key: "k"}
	if u := untracked.AsRead(); u.Key != "k" || u == untracked {
		t.Fatalf("untracked AsRead = %+v", u)
	}
}

// Undecode forgets a payload that is still Raw decoded, never one a
// stage changed; decoding again gives the same payload, bytes kept.
func TestUndecodeForgetsOnlyAnUnchangedPayload(t *testing.T) {
	raw := `{"id": 18446744073709551616, "s": "caf\u00e9"}`
	m := &Message{Raw: []byte(raw)}
	if err := JSON.Decode(m); err != nil {
		t.Fatal(err)
	}
	if !m.Undecode() || m.Decoded || m.Payload != nil || m.origin != nil {
		t.Fatalf("unchanged payload kept: %+v", m)
	}
	if m.Undecode() {
		t.Fatal("Undecode of an undecoded message reported true")
	}
	if err := JSON.Decode(m); err != nil {
		t.Fatal(err)
	}
	m.SetPayload(m.Payload)
	if m.Undecode() || !m.Decoded || m.Payload == nil {
		t.Fatalf("changed payload forgotten: %+v", m)
	}
	if err := JSON.Encode(m); err != nil || string(m.Body) != raw {
		t.Fatalf("body %s (%v), want %s", m.Body, err, raw)
	}
}
