package kubernetes

// The probe paths the manifests must use. TestProbePathsAreServed checks them
// against the routes kiln serve registers, so a renamed route fails here.
const (
	healthPath = "/health"
	readyPath  = "/ready"
)
