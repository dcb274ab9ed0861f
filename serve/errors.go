package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/kiln-ml/kiln/serve/batcher"
)

// Error types in the JSON error body; the first six are the names
// text-embeddings-inference uses, so its clients classify them the same way.
// TEI's statuses: Validation 413 (too many inputs) or 422 (a body that does
// not fit the schema), Overloaded 429, Backend 424, Tokenizer 422,
// Unhealthy 503, Empty 400.
const (
	ErrValidation   = "Validation"
	ErrOverloaded   = "Overloaded"
	ErrBackend      = "Backend"
	ErrTokenizer    = "Tokenizer"
	ErrUnhealthy    = "Unhealthy"
	ErrEmpty        = "Empty"
	ErrMalformed    = "MalformedJSON"
	ErrTooLarge     = "PayloadTooLarge"
	ErrTimeout      = "Timeout"
	ErrUnauthorized = "Unauthorized"
	ErrNotFound     = "NotFound"
	ErrMethod       = "MethodNotAllowed"
	ErrInternal     = "Internal"
)

// apiError is an error with its HTTP status and error_type.
type apiError struct {
	Status     int
	Type       string
	Msg        string
	RetryAfter int // seconds; sets Retry-After when > 0
}

func (e *apiError) Error() string { return e.Msg }

func newErr(status int, typ, format string, args ...any) *apiError {
	return &apiError{Status: status, Type: typ, Msg: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error     string `json:"error"`
	ErrorType string `json:"error_type"`
}

// classify maps any error a handler returns to an apiError.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case http.StatusRequestEntityTooLarge:
			return newErr(fe.Code, ErrTooLarge, "request body too large: %s", fe.Message)
		case http.StatusNotFound:
			return newErr(fe.Code, ErrNotFound, "%s", fe.Message)
		case http.StatusMethodNotAllowed:
			return newErr(fe.Code, ErrMethod, "%s", fe.Message)
		case http.StatusRequestTimeout:
			return newErr(fe.Code, ErrTimeout, "%s", fe.Message)
		}
		typ := ErrValidation
		if fe.Code >= 500 {
			typ = ErrInternal
		}
		return newErr(fe.Code, typ, "%s", fe.Message)
	}
	var be *batcher.BackendError
	switch {
	case errors.As(err, &be):
		// TEI's status for a failed model run: 424 Failed Dependency.
		return newErr(http.StatusFailedDependency, ErrBackend, "%v", be)
	case errors.Is(err, batcher.ErrQueueFull):
		return &apiError{Status: http.StatusTooManyRequests, Type: ErrOverloaded, Msg: "model is overloaded: the queue is full, retry later", RetryAfter: 1}
	case errors.Is(err, batcher.ErrTooLarge):
		return newErr(http.StatusRequestEntityTooLarge, ErrTooLarge, "%v", err)
	case errors.Is(err, batcher.ErrClosed):
		return &apiError{Status: http.StatusServiceUnavailable, Type: ErrUnhealthy, Msg: "server is shutting down", RetryAfter: 1}
	case errors.Is(err, context.DeadlineExceeded):
		return newErr(http.StatusGatewayTimeout, ErrTimeout, "request timed out waiting for inference")
	case errors.Is(err, batcher.ErrClientGone), errors.Is(err, context.Canceled):
		// Nobody reads this; 499 is the conventional "client closed" status.
		return newErr(499, ErrTimeout, "client closed the request")
	}
	return newErr(http.StatusInternalServerError, ErrInternal, "%v", err)
}

// writeError sends the JSON error body.
func writeError(c *fiber.Ctx, ae *apiError) error {
	if ae.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(ae.RetryAfter))
	}
	return c.Status(ae.Status).JSON(errorBody{Error: ae.Msg, ErrorType: ae.Type})
}
