//go:build race

package main

// raceDetector says the tests run with -race, which slows every request
// several times over: the fault suite widens its latency margins then.
const raceDetector = true
