package serve

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openapiDoc describes every route routes() registers; a test checks that
// the two agree.
//
//go:embed openapi.json
var openapiDoc []byte

func (s *Server) openapi(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(openapiDoc)
}
