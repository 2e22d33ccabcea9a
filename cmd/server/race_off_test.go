//go:build !race

package main

// raceDetector says the tests run with -race; see race_on_test.go.
const raceDetector = false
