package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// healthcheck exists so container images need no curl or wget: Docker's
// HEALTHCHECK and Kubernetes exec probes can run the binary they already have.
func newHealthcheckCmd() *cobra.Command {
	var (
		url     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if a kiln server answers 200 on its health URL (for container probes)",
		Long: `healthcheck sends one GET to --url and exits 0 on HTTP 200, 1 otherwise.
It is meant for Docker's HEALTHCHECK, where the serving image has no curl:

  HEALTHCHECK CMD ["kiln", "healthcheck", "--url", "http://127.0.0.1:8080/health"]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck %s: %w", url, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck %s: status %d", url, resp.StatusCode)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8080/health", "health endpoint to probe")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "give up after this long")
	return cmd
}

func init() { addCommand(newHealthcheckCmd()) }
