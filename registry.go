package backie

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
)

// maxTaskNameLen bounds registered names.
const maxTaskNameLen = 255

// Registry maps task names to Go types. Each task type is registered once,
// under a name that is stored with its tasks; the name, not the Go type's
// name, is what must stay stable across deploys. A Registry is safe for
// concurrent use. Create one with NewRegistry and pass it to NewPgQueue.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*taskKind
	byType map[reflect.Type]*taskKind
}

type taskKind struct {
	name   string
	goType reflect.Type
	decode func(payload []byte) (Task, error)
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{
		byName: make(map[string]*taskKind),
		byType: make(map[reflect.Type]*taskKind),
	}
}

// Register registers the task type T under name. T is usually a pointer to
// a struct (Register[*SendEmail]), whose exported fields are the payload.
// It returns an error wrapping ErrTaskAlreadyRegistered if the name or the
// type is taken, or ErrInvalidTaskName for an empty or overlong name.
func Register[T Task](r *Registry, name string) error {
	if r == nil {
		return fmt.Errorf("backie: register %q: %w: nil registry", name, ErrInvalidConfig)
	}
	if name == "" || len(name) > maxTaskNameLen {
		return fmt.Errorf("backie: register %q: %w: length must be 1..%d bytes", name, ErrInvalidTaskName, maxTaskNameLen)
	}
	rt := reflect.TypeFor[T]()
	if rt.Kind() == reflect.Interface {
		return fmt.Errorf("backie: register %q: %w: %s is an interface, register a concrete type", name, ErrInvalidTaskName, rt)
	}
	kind := &taskKind{name: name, goType: rt}
	if rt.Kind() == reflect.Pointer {
		elem := rt.Elem()
		kind.decode = func(payload []byte) (Task, error) {
			v := reflect.New(elem)
			if err := json.Unmarshal(payload, v.Interface()); err != nil {
				return nil, err
			}
			return v.Interface().(Task), nil
		}
	} else {
		kind.decode = func(payload []byte) (Task, error) {
			var t T
			if err := json.Unmarshal(payload, &t); err != nil {
				return nil, err
			}
			return t, nil
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.byName[name]; ok {
		return fmt.Errorf("backie: register %q: %w: name used by %s", name, ErrTaskAlreadyRegistered, prev.goType)
	}
	if prev, ok := r.byType[rt]; ok {
		return fmt.Errorf("backie: register %q: %w: %s is registered as %q", name, ErrTaskAlreadyRegistered, rt, prev.name)
	}
	r.byName[name] = kind
	r.byType[rt] = kind
	return nil
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// nameOf returns the registered name of task's Go type.
func (r *Registry) nameOf(task Task) (string, error) {
	rt := reflect.TypeOf(task)
	r.mu.RLock()
	kind, ok := r.byType[rt]
	r.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("%w: Go type %s", ErrTaskNotRegistered, rt)
	}
	return kind.name, nil
}

// decode turns a stored payload back into its task.
func (r *Registry) decode(name string, payload []byte) (Task, error) {
	r.mu.RLock()
	kind, ok := r.byName[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: name %q", ErrTaskNotRegistered, name)
	}
	t, err := kind.decode(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: task %q: %w", ErrDecodePayload, name, err)
	}
	return t, nil
}
