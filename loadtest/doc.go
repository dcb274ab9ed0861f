// Package loadtest generates HTTP load and measures latency honestly.
//
// The package is a library in the shape of vegeta's lib/: a Pacer decides
// when each request is meant to be sent (pure rate maths, no clock), an
// Attacker sends requests either open-loop (at the pacer's arrival times,
// whatever the server does) or closed-loop (N clients, each waiting for its
// previous answer), a Recorder keeps full-resolution HDR histograms, and the
// reporters turn a Result into a text summary, JSON (histograms included, so
// runs can be merged), HdrHistogram's .hgrm percentile text and a
// self-contained HTML page. `kiln loadtest` is only a thin front over it.
//
// Open-loop latency is measured from the intended send time, not from the
// moment the request actually left, so a server stall shows up in the
// percentiles instead of silently slowing the generator down (coordinated
// omission). The delay between the intended and the actual send time is
// recorded on its own (send lag) together with the number of times the
// in-flight cap was hit, so client-side saturation is reported instead of
// being folded into the server's latency.
package loadtest
