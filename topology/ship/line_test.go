package ship

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShipConnectionID(t *testing.T) {
	testCases := []struct {
		name, line, want string
	}{
		{name: "log4j line", line: `[2024-10-25 09:14:00,337] DEBUG Completed request:{"requestHeader":{"requestApiKey":0},"connection":"10.0.0.11:9094-10.0.1.40:60712-5","totalTimeMs":1} (kafka.request.logger)`,
			want: "10.0.0.11:9094-10.0.1.40:60712-5"},
		{name: "bare JSON", line: `{"connection":"a-b-1"}`, want: "a-b-1"},
		{name: "space after colon", line: `{"connection": "a-b-1"}`, want: "a-b-1"},
		{name: "last occurrence wins", line: `{"request":{"connection":"inner"},"connection":"outer"}`, want: "outer"},
		{name: "escaped in a string value is not a field", line: `{"request":{"v":"\"connection\":\"x\""},"connection":"c-1"}`, want: "c-1"},
		{name: "no field", line: `{"principal":"User:a"}`},
		{name: "not a string", line: `{"connection":null}`},
		{name: "empty value", line: `{"connection":""}`},
		{name: "unterminated", line: `{"connection":"abc`},
		{name: "escape inside value", line: `{"connection":"a\\b"}`},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			got := ConnectionID([]byte(tc.line))
			if tc.want == "" {
				require.Nil(t, got)
				return
			}
			require.Equal(t, tc.want, string(got))
		})
	}
}

// growingReader returns its data in the chunks it is given, then io.EOF
// until more is appended.
type growingReader struct{ data *bytes.Buffer }

func (g growingReader) Read(p []byte) (int, error) {
	if g.data.Len() == 0 {
		return 0, io.EOF
	}
	return g.data.Read(p)
}

type readResult struct {
	line string
	end  int64
	kind lineKind
}

func readAll(t *testing.T, s *source, final bool) []readResult {
	t.Helper()
	var out []readResult
	for {
		line, end, kind, ok, err := s.readLine(final)
		require.NoError(t, err)
		if !ok {
			return out
		}
		out = append(out, readResult{string(line), end, kind})
	}
}

func TestShipReadLine(t *testing.T) {
	data := &bytes.Buffer{}
	s := &source{r: growingReader{data}, maxLine: 10}

	data.WriteString("one\r\n\n  \ntwo")
	require.Equal(t, []readResult{
		{"one", 5, lineOK},
		{"", 6, lineEmpty},
		{"", 9, lineEmpty},
	}, readAll(t, s, false), "the partial line waits for its newline")
	require.EqualValues(t, 9, s.offset())

	data.WriteString("-half\n")
	require.Equal(t, []readResult{{"two-half", 18, lineOK}}, readAll(t, s, false))

	// A line over the limit, whole in the buffer or spanning reads.
	data.WriteString("0123456789A\nok\n")
	require.Equal(t, []readResult{{"", 30, lineTooLong}, {"ok", 33, lineOK}}, readAll(t, s, false))
	long := strings.Repeat("x", 3*readChunk)
	data.WriteString(long[:readChunk])
	require.Empty(t, readAll(t, s, false))
	data.WriteString(long[readChunk:] + "\nafter\n")
	got := readAll(t, s, false)
	require.Equal(t, []readResult{
		{"", 33 + int64(len(long)) + 1, lineTooLong},
		{"after", 33 + int64(len(long)) + 7, lineOK},
	}, got)

	// A rotated file's unterminated tail is shipped when final.
	data.WriteString("tail")
	require.Empty(t, readAll(t, s, false))
	end := got[1].end
	require.Equal(t, []readResult{{"tail", end + 4, lineOK}}, readAll(t, s, true))
	require.Empty(t, readAll(t, s, true))
}
