//go:build !race

package passwd

// raceDetector is true under -race; see race_on_test.go.
const raceDetector = false
