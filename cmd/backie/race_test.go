//go:build race

package main

// raceEnabled builds the command with -race when the tests run with it.
const raceEnabled = true
