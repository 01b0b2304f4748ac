package schemas

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A hostile or corrupt record whose array claims 2^31-1 items must fail to
// decode, not allocate 32 GiB and kill the process.
func TestDecodeHugeArrayCountFails(t *testing.T) {
	raw, err := hex.DecodeString("00000000000000000000000000000000000000000000000000feffffff0f")
	require.NoError(t, err)
	_, err = (&RequestLogCodec{}).Decode(raw)
	require.Error(t, err)
}

func TestEncodeTypedNilFails(t *testing.T) {
	_, err := (&RequestLogCodec{}).Encode((*RequestLog)(nil))
	require.Error(t, err)
	_, err = (&ConnStateCodec{}).Encode((*ConnState)(nil))
	require.Error(t, err)
}

func TestRecordBytesSaturates(t *testing.T) {
	line := `{"isForwarded":false,"requestHeader":{"requestApiKey":0,"requestApiVersion":11,"correlationId":1,"clientId":"c","requestApiKeyName":"PRODUCE"},"request":{"acks":-1,"topicData":[{"name":"t","partitionData":[{"index":0,"recordsSizeInBytes":9223372036854775807},{"index":1,"recordsSizeInBytes":1187},{"index":2,"recordsSizeInBytes":-5000}]}]},"response":"","connection":"a:1-b:2-3","principal":"User:x"}`
	r, err := ParseLine([]byte(line), ParseOptions{})
	require.NoError(t, err)
	require.EqualValues(t, int64(9223372036854775807), r.RecordBytes)
}

func TestBracketWithoutTimestampIsNotRequestLog(t *testing.T) {
	for _, l := range []string{"[main] INFO starting", "[]", `[{"isForwarded":false}]`} {
		_, err := ParseLine([]byte(l), ParseOptions{})
		var pe *ParseError
		require.ErrorAs(t, err, &pe, l)
		require.Equal(t, ReasonNotRequest, pe.Reason, l)
	}
}

// TestHostileLines covers the hostile inputs of issue 6: each is refused
// with a reason, never a panic or an unbounded allocation.
func TestHostileLines(t *testing.T) {
	header := `{"isForwarded":false,"requestHeader":{"requestApiKey":0,"requestApiVersion":11,"correlationId":1,"clientId":"c","requestApiKeyName":"PRODUCE"},`
	tail := `,"response":"","connection":"a:1-b:2-3","principal":"User:x"}`
	many := make([]string, MaxTopicsPerRequest+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"name":"t%d","partitionData":[]}`, i)
	}
	for _, tc := range []struct {
		name, line string
		opts       ParseOptions
		reason     string
	}{
		{"deeply nested JSON", header + `"request":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + tail, ParseOptions{}, ReasonBadJSON},
		{"deeply nested inside a known field", header + `"request":{"topicData":` + strings.Repeat(`[`, 15000) + strings.Repeat(`]`, 15000) + `}` + tail, ParseOptions{}, ReasonBadJSON},
		{"huge topic array", header + `"request":{"acks":-1,"topicData":[` + strings.Join(many, ",") + `]}` + tail, ParseOptions{}, ReasonTooMany},
		{"over a configured line limit", header + `"request":{"acks":-1,"topicData":[]}` + tail, ParseOptions{MaxLineBytes: 100}, ReasonTooLarge},
		{"wrong type in the header", strings.Replace(header, `"correlationId":1`, `"correlationId":{"x":1}`, 1) + `"request":{}` + tail, ParseOptions{}, ReasonBadJSON},
		{"truncated mid-string", header[:len(header)-20], ParseOptions{}, ReasonBadJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLine([]byte(tc.line), tc.opts)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.reason, pe.Reason, "%v", err)
		})
	}
}
