package installer

import "testing"

func TestQuoteImagePath(t *testing.T) {
	tests := []struct {
		name, in, want string
		changed        bool
	}{
		{"wine msiexec", `C:\Program Files\stationsync\station-agent.exe run --service`, `"C:\Program Files\stationsync\station-agent.exe" run --service`, true},
		{"no arguments", `C:\Program Files\stationsync\station-agent.exe`, `"C:\Program Files\stationsync\station-agent.exe"`, true},
		{"already quoted", `"C:\Program Files\stationsync\station-agent.exe" run --service`, `"C:\Program Files\stationsync\station-agent.exe" run --service`, false},
		{"no space", `C:\stationsync\station-agent.exe run --service`, `C:\stationsync\station-agent.exe run --service`, false},
		{"exe inside a folder name", `C:\My Tools.exes\station-agent.EXE run`, `"C:\My Tools.exes\station-agent.EXE" run`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := QuoteImagePath(tc.in)
			if got != tc.want || changed != tc.changed {
				t.Fatalf("got %q, %v; want %q, %v", got, changed, tc.want, tc.changed)
			}
		})
	}
}
