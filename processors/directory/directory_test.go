package directory

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		value   string
		want    *schemas.Identity
		wantErr string // substring; "" means success
	}{
		{
			name:  "user",
			value: `{"type":"confluentUser","id":"u-abc123","email":"alice@example.com"}`,
			want:  &schemas.Identity{Type: schemas.IdentityUser, ID: "u-abc123", Email: "alice@example.com"},
		},
		{
			name:  "service account without email",
			value: `{"type":"confluentServiceAccount","id":"sa-9xyz"}`,
			want:  &schemas.Identity{Type: schemas.IdentityServiceAccount, ID: "sa-9xyz"},
		},
		{
			name:  "unknown fields are ignored",
			value: `{"type":"confluentServiceAccount","id":"sa-1","team":"payments"}`,
			want:  &schemas.Identity{Type: schemas.IdentityServiceAccount, ID: "sa-1"},
		},
		{name: "bad json", value: `{"type":"confluentUser",`, wantErr: "unexpected end of JSON input"},
		{name: "not an object", value: `"u-abc123"`, wantErr: "cannot unmarshal string"},
		{name: "empty value", value: ``, wantErr: "unexpected end of JSON input"},
		{name: "unknown type", value: `{"type":"user","id":"u-1"}`, wantErr: `type: "user" is neither confluentUser nor confluentServiceAccount`},
		{name: "missing type", value: `{"id":"u-1"}`, wantErr: `type: "" is neither`},
		{name: "empty id", value: `{"type":"confluentUser","id":""}`, wantErr: "id: must not be empty"},
		{name: "missing id", value: `{"type":"confluentUser"}`, wantErr: "id: must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.value))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestParseReportsEveryProblem: an entry with a bad type and no id names
// both, so one correction fixes it.
func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`{"type":"robot"}`))
	require.ErrorContains(t, err, `type: "robot"`)
	require.ErrorContains(t, err, "id: must not be empty")
}
