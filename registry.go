package backie

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

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

// Register registers the task type T under name, for tasks that need
// nothing but their payload: each task is decoded into a new zero T. T is
// usually a pointer to a struct (Register[*Cleanup]) whose exported fields
// are the payload. Use RegisterFunc for tasks that need dependencies.
//
// It returns an error wrapping ErrTaskAlreadyRegistered if the name or the
// type is taken, ErrInvalidTaskName for a name that is empty, longer than
// MaxTaskNameLen bytes, not UTF-8 or holds a NUL, and ErrInvalidTask for an
// interface type or a struct with fields of which JSON encodes none (its
// tasks would run with zero values: export the fields, or register it with
// RegisterFunc if they are dependencies).
func Register[T Task](r *Registry, name string) error {
	rt := reflect.TypeFor[T]()
	if err := validTaskGoType(rt); err != nil {
		return fmt.Errorf("backie: register %q: %w", name, err)
	}
	if fields := dataWithoutPayload(rt); fields != "" {
		return fmt.Errorf("backie: register %q: %w: JSON encodes none of the fields of %s (%s), so its tasks would run with zero values: export them, or register a constructor with RegisterFunc if they are dependencies",
			name, ErrInvalidTask, rt, fields)
	}
	var decode func([]byte) (Task, error)
	if rt.Kind() == reflect.Pointer {
		elem := rt.Elem()
		decode = func(payload []byte) (Task, error) {
			v := reflect.New(elem)
			if err := json.Unmarshal(payload, v.Interface()); err != nil {
				return nil, err
			}
			return v.Interface().(Task), nil
		}
	} else {
		decode = func(payload []byte) (Task, error) {
			var t T
			if err := json.Unmarshal(payload, &t); err != nil {
				return nil, err
			}
			return t, nil
		}
	}
	return r.add(name, rt, decode)
}

// RegisterFunc registers the task type T under name with a constructor:
// each task is decoded by filling the value newTask returns with the stored
// JSON, so the constructor sets what is not stored, such as a database
// handle, a mail client or a logger:
//
//	backie.RegisterFunc(reg, "send_email", func() *SendEmail {
//		return &SendEmail{mailer: mailer}
//	})
//
// T is usually a pointer to a struct; newTask is called once per attempt
// and must return a new value each time (a pointer it shares would be
// written by concurrent attempts). A constructor that returns a nil pointer
// fails the attempt for good (ErrDecodePayload). Errors are those of
// Register, and ErrInvalidConfig for a nil newTask.
func RegisterFunc[T Task](r *Registry, name string, newTask func() T) error {
	rt := reflect.TypeFor[T]()
	if err := validTaskGoType(rt); err != nil {
		return fmt.Errorf("backie: register %q: %w", name, err)
	}
	if newTask == nil {
		return fmt.Errorf("backie: register %q: %w: nil constructor", name, ErrInvalidConfig)
	}
	decode := func(payload []byte) (Task, error) {
		t := newTask()
		target := any(&t)
		if rt.Kind() == reflect.Pointer {
			if reflect.ValueOf(t).IsNil() {
				return nil, fmt.Errorf("the constructor of %s returned nil", rt)
			}
			target = t
		}
		if err := json.Unmarshal(payload, target); err != nil {
			return nil, err
		}
		return t, nil
	}
	return r.add(name, rt, decode)
}

func (r *Registry) add(name string, rt reflect.Type, decode func([]byte) (Task, error)) error {
	if r == nil {
		return fmt.Errorf("backie: register %q: %w: nil registry", name, ErrInvalidConfig)
	}
	if err := validTaskName(name); err != nil {
		return fmt.Errorf("backie: register %q: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.byName[name]; ok {
		return fmt.Errorf("backie: register %q: %w: name used by %s", name, ErrTaskAlreadyRegistered, prev.goType)
	}
	if prev, ok := r.byType[rt]; ok {
		return fmt.Errorf("backie: register %q: %w: %s is registered as %q", name, ErrTaskAlreadyRegistered, rt, prev.name)
	}
	kind := &taskKind{name: name, goType: rt, decode: decode}
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

// Len returns how many task types are registered.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byName)
}

// NameOf returns the name task's Go type is registered under, or an error
// wrapping ErrTaskNotRegistered.
func (r *Registry) NameOf(task Task) (string, error) {
	if r == nil {
		return "", fmt.Errorf("backie: name of task: %w: nil registry", ErrInvalidConfig)
	}
	name, err := r.nameOf(task)
	if err != nil {
		return "", fmt.Errorf("backie: name of task: %w", err)
	}
	return name, nil
}

// nameOf returns the registered name of task's Go type.
func (r *Registry) nameOf(task Task) (string, error) {
	rt := reflect.TypeOf(task)
	r.mu.RLock()
	kind, ok := r.byType[rt]
	r.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrTaskNotRegistered, rt)
	}
	return kind.name, nil
}

// decode turns a stored payload back into its task. A panic in a
// constructor or a custom UnmarshalJSON is an error too.
func (r *Registry) decode(name string, payload []byte) (task Task, err error) {
	r.mu.RLock()
	kind, ok := r.byName[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: name %q", ErrTaskNotRegistered, name)
	}
	defer func() {
		if p := recover(); p != nil {
			task, err = nil, fmt.Errorf("%w: task %q: panic: %v", ErrDecodePayload, name, p)
		}
	}()
	t, err := kind.decode(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: task %q: %w", ErrDecodePayload, name, err)
	}
	return t, nil
}

// validTaskName checks a task name against the limits of what is stored.
func validTaskName(name string) error {
	if err := validLabel(name, MaxTaskNameLen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidTaskName, err)
	}
	return nil
}

// validTaskType checks a task type (the empty type stands for
// TaskTypeDefault and is checked by the caller).
func validTaskType(t TaskType) error {
	if err := validLabel(string(t), MaxTaskTypeLen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidTaskType, err)
	}
	return nil
}

// validLabel holds the rules shared by names and types: PostgreSQL text
// is UTF-8 without NUL, and a type travels in NOTIFY payloads, which are
// limited to 8000 bytes.
func validLabel(s string, maxLen int) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > maxLen:
		return fmt.Errorf("%d bytes, at most %d", len(s), maxLen)
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("holds a NUL byte")
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	}
	return nil
}

func validTaskGoType(rt reflect.Type) error {
	if rt.Kind() == reflect.Interface {
		return fmt.Errorf("%w: %s is an interface, register a concrete type", ErrInvalidTask, rt)
	}
	return nil
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// dataWithoutPayload returns the names of rt's fields when rt is a struct
// (or a pointer to one) that holds data but none that JSON encodes, and ""
// otherwise. A struct without fields (or with only zero-size ones, such as
// TaskDefaults) is a task without payload; a type with its own MarshalJSON
// encodes what it wants.
func dataWithoutPayload(rt reflect.Type) string {
	for _, t := range []reflect.Type{rt, reflect.PointerTo(rt)} {
		if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) {
			return ""
		}
	}
	st := rt
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() != reflect.Struct || st.Size() == 0 || jsonFields(st) > 0 {
		return ""
	}
	var names []string
	for i := range st.NumField() {
		if f := st.Field(i); f.Type.Size() > 0 {
			names = append(names, f.Name)
		}
	}
	return strings.Join(names, ", ")
}

// jsonFields counts the fields encoding/json encodes for struct type st.
func jsonFields(st reflect.Type) int {
	n := 0
	for i := range st.NumField() {
		f := st.Field(i)
		if f.Tag.Get("json") == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case f.Anonymous && ft.Kind() == reflect.Struct:
			n += jsonFields(ft) // promoted fields, even of an unexported embedded struct
		case f.IsExported():
			n++
		}
	}
	return n
}

// NewRecord returns the record CreateTask would store for task with opts,
// validated as CreateTask validates it (the same errors: unregistered type,
// bad name or type, bad unique hash, bad priority, unencodable payload),
// with a new id, without storing anything: CreatedAt is now, and
// ScheduledAt is the options' time (RunAt, now + RunAfter) or now, where
// CreateTask takes the database's clock. Test kits use it to record
// enqueues without a database, with a clock of their own.
func (r *Registry) NewRecord(now time.Time, task Task, opts ...CreateOption) (*TaskRecord, error) {
	if r == nil {
		return nil, fmt.Errorf("backie: new record: %w: nil registry", ErrInvalidConfig)
	}
	o := applyCreateOptions(opts)
	rec, err := prepare(r, task, o)
	if err != nil {
		return nil, fmt.Errorf("backie: new record: %w", err)
	}
	rec.CreatedAt, rec.ScheduledAt = now, now.Add(o.delay)
	if o.runAt != nil {
		rec.ScheduledAt = *o.runAt
	}
	return rec, nil
}
