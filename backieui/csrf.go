package backieui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Cookies and form fields of the CSRF protection and the flash messages.
const (
	csrfCookie  = "backie_csrf"
	csrfField   = "csrf_token"
	flashCookie = "backie_flash"
)

// The CSRF protection is a signed double submit: the browser holds a random
// value in a cookie that only this site's pages can send (SameSite=Lax,
// HttpOnly), each form carries HMAC(key, value), and a POST passes only
// when the two agree. A token is bound to that browser's cookie, so a
// token read from one user's page is worthless in another user's browser.
// Cross-origin requests are also refused from the browser's own
// Sec-Fetch-Site and Origin headers (http.CrossOriginProtection).

// csrfToken returns the token of the page's forms, and sets the cookie
// when the browser has none.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	value := ""
	if c, err := r.Cookie(csrfCookie); err == nil && validCookieValue(c.Value) {
		value = c.Value
	} else {
		var b [24]byte
		_, _ = rand.Read(b[:])
		value = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{
			Name:     csrfCookie,
			Value:    value,
			Path:     h.mountPath(r),
			HttpOnly: true,
			Secure:   r.TLS != nil,
			SameSite: http.SameSiteLaxMode,
		})
	}
	return h.sign("csrf", value)
}

func validCookieValue(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 24
}

func (h *Handler) sign(purpose, value string) string {
	m := hmac.New(sha256.New, h.cfg.CSRFKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF returns why a POST is refused, or nil.
func (h *Handler) checkCSRF(r *http.Request) error {
	if err := h.cross.Check(r); err != nil {
		return errors.New("cross-origin request")
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validCookieValue(c.Value) {
		return errors.New("no CSRF cookie")
	}
	token := r.PostFormValue(csrfField)
	if token == "" {
		return errors.New("no CSRF token")
	}
	if !hmac.Equal([]byte(token), []byte(h.sign("csrf", c.Value))) {
		return errors.New("invalid CSRF token")
	}
	return nil
}

// flash is the message shown once on the page an action redirects to.
type flash struct {
	Kind    string // "ok" or "error"
	Message string
}

// setFlash stores f in a signed cookie, read by the next page.
func (h *Handler) setFlash(w http.ResponseWriter, r *http.Request, kind, msg string) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + msg))
	http.SetCookie(w, &http.Cookie{
		Name:     flashCookie,
		Value:    payload + "." + h.sign("flash", payload),
		Path:     h.mountPath(r),
		MaxAge:   60,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
}

// takeFlash returns the flash message of the request, if any, and clears it.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Path: h.mountPath(r), MaxAge: -1, Expires: time.Unix(1, 0),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(h.sign("flash", payload))) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	kind, msg, ok := strings.Cut(string(b), "\x00")
	if !ok {
		return nil
	}
	return &flash{Kind: kind, Message: msg}
}
