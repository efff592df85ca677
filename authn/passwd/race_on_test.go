//go:build race

package passwd

// raceDetector is true under -race, where BSDi crypt's millions of DES rounds run hundreds of
// times slower; scripts/test.sh runs those vectors again in its pass without -race.
const raceDetector = true
