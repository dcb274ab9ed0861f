package serve

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes builds the fiber app. Probes are registered without auth, so
// orchestrators need no secret; every other route checks the API key
// itself. Auth belongs to the matched route, not to the path's spelling:
// fiber matches /HEALTH and /health/ to /health, and they are probes too.
func (s *Server) routes() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName: "kiln", DisableStartupMessage: true, BodyLimit: s.cfg.BodyLimit,
		ReadTimeout: s.cfg.ReadTimeout, WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout,
		ErrorHandler: s.earlyError,
	})
	app.Use(s.observe)
	// Probes, open: TEI answers GET / and GET /ping (SageMaker) as /health.
	for _, p := range []string{"/health", "/", "/ping", "/v2/health/live"} {
		app.Get(p, s.health)
	}
	app.Get("/ready", s.readyHandler)
	app.Get("/v2/health/ready", s.readyHandler)

	app.Get("/info", s.auth, s.info)
	app.Get("/metrics", s.auth, adaptor.HTTPHandler(promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})))
	app.Get("/openapi.json", s.auth, s.openapi)
	// TEI routes a classifier's POST / and POST /invocations (SageMaker) to
	// /predict: huggingface_hub's InferenceClient(model=URL) posts to /.
	for _, p := range []string{"/predict", "/", "/invocations"} {
		app.Post(p, s.auth, s.predict)
	}
	app.Post("/tokenize", s.auth, s.tokenize)
	app.Post("/decode", s.auth, s.decode)

	app.Get("/v2", s.auth, s.kserveServer)
	for _, prefix := range []string{"/v2/models/:name", "/v2/models/:name/versions/:version"} {
		app.Get(prefix, s.auth, s.kserveModel)
		app.Get(prefix+"/ready", s.auth, s.kserveModelReady)
		app.Get(prefix+"/config", s.auth, s.kserveConfig)
		app.Post(prefix+"/infer", s.auth, s.kserveInfer)
	}
	return app
}

// auth checks `Authorization: Bearer KEY`. The scheme is case-insensitive
// (RFC 7235 §2.1), the key is not.
func (s *Server) auth(c *fiber.Ctx) error {
	if s.cfg.APIKey == "" {
		return c.Next()
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " ")
	if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.cfg.APIKey)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="kiln"`)
		return newErr(http.StatusUnauthorized, ErrUnauthorized, "missing or wrong bearer token (Authorization: Bearer <api key>)")
	}
	return c.Next()
}
