package schemas

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzSeeds are the FORMATS.md A.9 lines plus broken variants of them.
func fuzzSeeds() []string {
	seeds := append([]string(nil), exampleLines...)
	for _, l := range []string{lineProduceOK, lineFetchByTopicID, lineCreateTopicsForwarded} {
		bare := bareJSON(l)
		seeds = append(seeds,
			bare,               // no log4j wrapper
			l+"\r\n",           // CRLF
			l[:len(l)/2],       // truncated
			bare[:len(bare)-1], // truncated bare JSON
			strings.Replace(l, `"isForwarded":false`, `"isForwarded":true`, 1),
			strings.Replace(l, `"correlationId":`, `"correlationId":"`, 1),  // broken string
			strings.Replace(l, "[2024-10-25 ", "[2024-13-25 ", 1),           // bad timestamp
			strings.Replace(l, `"topic`, `"topicX`, 1),                      // unknown body field
			strings.Replace(l, `"connection":"`, `"connection":"\ud800`, 1), // lone surrogate escape
		)
	}
	return append(seeds,
		"",
		"\n",
		"[",
		"[]",
		"{}",
		"null",
		`{"isForwarded":true}`,
		`{"requestHeader":{"requestApiKey":0,"requestApiKeyName":"PRODUCE"},"connection":"a:1-b:2-3","principal":"User:x","request":{"topicData":{}}}`,
		`{"requestHeader":{"requestApiKey":1,"requestApiKeyName":"FETCH"},"connection":"a:1-b:2-3","principal":"User:x","request":"","response":{"responses":[{"partitions":[{"recordsSizeInBytes":9223372036854775807},{"recordsSizeInBytes":1}]}]}}`,
		"[2024-10-25 09:14:03,117] DEBUG Completed request:",
		"[2024-10-25 09:14:03,117] DEBUG Completed request:RequestHeader(apiKey=PRODUCE, apiVersion=8, clientId=p, correlationId=5) -- {acks=-1} (kafka.request.logger)",
		"[2024-10-25 09:14:03,117] INFO [SocketServer listenerType=BROKER, nodeId=1] Enabling request processing. (kafka.network.SocketServer)",
		"hello \xff world",
	)
}

func FuzzParseLine(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	opts := ParseOptions{
		Cluster:  "fuzz",
		Location: time.FixedZone("UTC+2", 2*3600),
		Fallback: time.Date(2024, 10, 25, 9, 14, 3, 117_000_000, time.UTC),
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		r, err := ParseLine(line, opts)
		require.Equal(t, orig, line, "ParseLine modified its input")

		if err != nil {
			require.Nil(t, r, "a record together with error %v", err)
			if errors.Is(err, ErrForwarded) {
				return
			}
			var pe *ParseError
			require.ErrorAs(t, err, &pe, "error %T %v is neither ErrForwarded nor a *ParseError", err, err)
			require.NotEmpty(t, pe.Reason)
			require.NotNil(t, pe.Err)
			require.NotEmpty(t, err.Error())
			return
		}

		require.NotNil(t, r, "nil record and nil error")
		require.Equal(t, "fuzz", r.Cluster)
		require.NotEmpty(t, r.APIName)
		require.NotEmpty(t, r.Connection)
		require.NotEmpty(t, r.Principal)
		require.Equal(t, time.UTC, r.Time.Location())

		// What the parser accepts, the loop codec carries unchanged (the
		// codec writes an absent body as "", which means the same).
		c := new(RequestLogCodec)
		data, err := c.Encode(r)
		require.NoError(t, err)
		v, err := c.Decode(data)
		require.NoError(t, err)
		got := v.(*RequestLog)
		require.Equal(t, string(r.Request), string(got.Request))
		require.Equal(t, string(r.Response), string(got.Response))
		got.Request, got.Response = r.Request, r.Response
		require.True(t, r.Time.Equal(got.Time), "time %v, want %v", got.Time, r.Time)
		got.Time = r.Time
		require.Equal(t, r, got)
	})
}
