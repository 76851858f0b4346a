package decode

// MaxMQTTKeep is maxMQTTKeep, for the external tests (which import
// package trace, itself an importer of this package).
const MaxMQTTKeep = maxMQTTKeep

// PollSessionsMax and PollIdle bound Polling's sessions, for the tests.
const (
	PollSessionsMax = pollSessionsMax
	PollIdle        = pollIdle
)
