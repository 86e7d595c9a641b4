package diag

import "testing"

func TestSuggest(t *testing.T) {
	names := []string{"filter", "map", "group", "json", "retry", "batch"}
	for in, want := range map[string]string{"fliter": "filter", "gruop": "group", "jsno": "json", "retyr": "retry",
		"mapp": "map", "btch": "batch", "zzzzzz": "", "x": ""} {
		if got := Suggest(in, names); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestListSortAndString(t *testing.T) {
	l := List{{Pos: Pos{"b.yaml", 1, 1}, Message: "b"}, {Pos: Pos{"a.yaml", 3, 2}, Path: "x", Message: "second", Snippet: " | x\n | ^"},
		{Pos: Pos{"a.yaml", 1, 5}, Message: "first"}}
	l.Sort()
	if l[0].Message != "first" || l[2].Message != "b" {
		t.Fatalf("order %v", l)
	}
	if got := l[1].String(); got != "a.yaml:3:2: x: second\n     | x\n     | ^" {
		t.Fatalf("String() = %q", got)
	}
	if (List{}).Err() != nil || l.Err() == nil {
		t.Fatal("Err")
	}
}
