//go:build !linux

package serve

import "github.com/gofiber/fiber/v2"

// clientGone is only implemented on Linux; elsewhere abandoned requests are
// dropped when their deadline passes.
func clientGone(*fiber.Ctx) func() bool { return nil }
