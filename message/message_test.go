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
