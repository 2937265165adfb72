package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
)

// Invoker invokes a function by name with Lambda semantics.
type Invoker interface {
	// Invoke runs function with the JSON event payload and returns its JSON
	// response. A non-nil error means the invocation failed: the function
	// returned an error or panicked (a *FunctionError), it is unknown (an
	// error wrapping ErrUnknownFunction), or it could not be run at all.
	// Invoke is safe for concurrent use.
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// ErrUnknownFunction is wrapped by the errors an Invoker returns for a
// function name it does not know.
var ErrUnknownFunction = errors.New("unknown function")

// FunctionError is the error an Invoker returns when the function itself
// failed, the equivalent of a Lambda response with X-Amz-Function-Error set.
type FunctionError struct {
	// Function is the name of the function that failed.
	Function string
	// Type is the error type the runtime reported ("errorString", "Runtime.ExitError", ...).
	Type string
	// Message is the error message the runtime reported.
	Message string
}

// Error describes the failure.
func (e *FunctionError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("function %s failed: %s", e.Function, e.Message)
	}
	return fmt.Sprintf("function %s failed: %s: %s", e.Function, e.Type, e.Message)
}

// HandlerInvoker returns an Invoker that calls in-process handlers by
// function name, for example
//
//	gateway.HandlerInvoker(map[string]lambda.Handler{
//		"ConnectFunction": lambda.NewHandler(wsapi.NewConnect(svc).Handle),
//	})
//
// Invocations of one function are serialized: the Invoke of a
// lambda.NewHandler handler (aws-lambda-go v1.55.1) returns a slice of a
// pooled buffer that its next invocation overwrites (upstream PR
// aws/aws-lambda-go#639), so each result is copied before the next
// invocation may start. Use HandlerFuncInvoker to invoke one function
// concurrently, as API Gateway does. A handler error or panic becomes a
// *FunctionError. The map is not copied; do not change it once the invoker is
// in use.
func HandlerInvoker(handlers map[string]lambda.Handler) Invoker {
	inv := &handlerInvoker{handlers: handlers, locks: make(map[string]*sync.Mutex, len(handlers))}
	for name := range handlers {
		inv.locks[name] = new(sync.Mutex)
	}
	return inv
}

type handlerInvoker struct {
	handlers map[string]lambda.Handler
	locks    map[string]*sync.Mutex
}

func (h *handlerInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	handler, ok := h.handlers[function]
	lock := h.locks[function]
	if !ok || handler == nil || lock == nil {
		return nil, fmt.Errorf("invoke %s: %w", function, ErrUnknownFunction)
	}
	lock.Lock()
	defer lock.Unlock()
	return invokeHandler(ctx, function, handler, payload)
}

// HandlerFuncInvoker returns an Invoker that calls in-process handler
// functions by name, concurrently. Each value is a handler function of a
// signature lambda.Start accepts, for example
//
//	gateway.HandlerFuncInvoker(map[string]any{
//		"MessageFunction": wsapi.NewMessage(svc).Handle,
//	})
//
// Every concurrent invocation gets a lambda.Handler of its own (as every
// concurrent Lambda invocation gets an execution environment of its own,
// though here they share the function's state), so the buffer reuse
// described on HandlerInvoker cannot mix results. A handler error or panic
// becomes a *FunctionError; a value that is not a valid handler fails every
// invocation with a *FunctionError that says why. The map is copied.
func HandlerFuncInvoker(handlers map[string]any) Invoker {
	inv := handlerFuncInvoker{}
	for name, fn := range handlers {
		inv[name] = &sync.Pool{New: func() any { return lambda.NewHandler(fn) }}
	}
	return inv
}

type handlerFuncInvoker map[string]*sync.Pool

func (h handlerFuncInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	pool, ok := h[function]
	if !ok {
		return nil, fmt.Errorf("invoke %s: %w", function, ErrUnknownFunction)
	}
	handler := pool.Get().(lambda.Handler)
	out, err := invokeHandler(ctx, function, handler, payload)
	pool.Put(handler) // after invokeHandler copied the result
	return out, err
}

// invokeHandler invokes handler and returns a copy of its result; a handler
// error or panic becomes a *FunctionError.
func invokeHandler(ctx context.Context, function string, handler lambda.Handler, payload []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			out = nil
			err = &FunctionError{
				Function: function,
				Type:     "Runtime.Panic",
				Message:  fmt.Sprintf("%v\n%s", v, debug.Stack()),
			}
		}
	}()
	res, err := handler.Invoke(ctx, payload)
	if err != nil {
		return nil, &FunctionError{Function: function, Type: errorType(err), Message: err.Error()}
	}
	return bytes.Clone(res), nil
}

// errorType names err's type the way the Lambda Go runtime reports it
// ("errorString" for errors.New).
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
