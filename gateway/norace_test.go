//go:build !race

package gateway

// raceEnabled: the race detector is on (it allocates, so allocation counts are checked without it).
const raceEnabled = false
