package status

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to a daemon's control socket; `vigil status`, `vigil events`
// and `vigil reload` use it.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the control socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{socket: path, hc: &http.Client{Transport: tr}}
}

// The host part is ignored: every request goes to the socket.
const baseURL = "http://vigil"

// Status fetches GET /status.
func (c *Client) Status(ctx context.Context) (StatusJSON, error) {
	var out StatusJSON
	resp, err := c.do(ctx, http.MethodGet, "/status")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, c.httpError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("%s: bad status reply: %w", c.socket, err)
	}
	return out, nil
}

// Events follows GET /events and calls fn for each event, until ctx is
// done (it then returns nil), the daemon ends the stream, or fn returns an
// error.
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	resp, err := c.do(ctx, http.MethodGet, "/events")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.httpError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		ev, err := decodeEventLine(sc.Bytes())
		if err != nil {
			return fmt.Errorf("%s: %w", c.socket, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", c.socket, err)
	}
	return fmt.Errorf("%s: the daemon closed the event stream", c.socket)
}

// decodeEventLine decodes one line of GET /events: an Event, or the
// server's last word when it cut the stream off.
func decodeEventLine(line []byte) (Event, error) {
	var v struct {
		Event
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return Event{}, fmt.Errorf("bad event line: %w", err)
	}
	if v.Error != "" {
		return Event{}, errors.New(v.Error)
	}
	if v.Instance == "" {
		return Event{}, errors.New("bad event line: no instance")
	}
	return v.Event, nil
}

// ReloadError is a reload the daemon refused; Errors lists the reasons.
type ReloadError struct {
	Errors []string
}

// Error implements error.
func (e *ReloadError) Error() string {
	return "reload refused:\n" + strings.Join(e.Errors, "\n")
}

// Reload asks the daemon to reload its configuration (POST /reload) and
// returns what the reload did. A refusal is a *ReloadError.
func (c *Client) Reload(ctx context.Context) (ReloadJSON, error) {
	var out ReloadJSON
	resp, err := c.do(ctx, http.MethodPost, "/reload")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return out, fmt.Errorf("%s: reloaded, but the reply is unreadable: %w", c.socket, err)
		}
		return out.normalized(), nil
	case http.StatusConflict:
		var e ErrorJSON
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			return out, fmt.Errorf("%s: reload refused, and the reply is unreadable: %w", c.socket, err)
		}
		if len(e.Errors) == 0 && e.Error != "" {
			e.Errors = []string{e.Error}
		}
		return out, &ReloadError{Errors: e.Errors}
	}
	return out, c.httpError(resp)
}

func (c *Client) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot reach the daemon on %s (is vigil running? --socket to choose another): %w", c.socket, unwrapURL(err))
	}
	return resp, nil
}

// unwrapURL drops net/http's "Get \"http://vigil/status\":" prefix, which
// only confuses: the request went to a socket, not to that URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) httpError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e ErrorJSON
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Errorf("%s: %s: %s", c.socket, resp.Status, e.Error)
	}
	return fmt.Errorf("%s: %s: %s", c.socket, resp.Status, strings.TrimSpace(string(body)))
}
