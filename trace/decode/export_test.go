package decode

// MaxMQTTKeep is maxMQTTKeep, for the external tests (which import
// package trace, itself an importer of this package).
const MaxMQTTKeep = maxMQTTKeep
