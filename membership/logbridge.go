package membership

import (
	"bytes"
	"log"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapWriter bridges memberlist's standard-library logger to zap, as consul
// does for serf: memberlist writes lines "[LEVEL] memberlist: message"; the
// level prefix picks the zap level and is stripped.
type zapWriter struct{ log *zap.Logger }

func newStdLogger(l *zap.Logger) *log.Logger {
	return log.New(&zapWriter{log: l}, "", 0)
}

// Write implements io.Writer; it logs one entry per line of p and never
// fails. It does not retain p.
func (w *zapWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte{'\n'}) {
		lvl, msg := parseLevel(string(line))
		if ce := w.log.Check(lvl, msg); ce != nil {
			ce.Write()
		}
	}
	return len(p), nil
}

// parseLevel splits "[LEVEL] memberlist: msg" into a zap level and "msg".
// Lines without a known prefix are logged at info.
func parseLevel(s string) (zapcore.Level, string) {
	lvl := zapcore.InfoLevel
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			switch s[1:i] {
			case "TRACE", "DEBUG":
				lvl = zapcore.DebugLevel
			case "INFO":
				lvl = zapcore.InfoLevel
			case "WARN":
				lvl = zapcore.WarnLevel
			case "ERR", "ERROR":
				lvl = zapcore.ErrorLevel
			}
			s = strings.TrimSpace(s[i+1:])
		}
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	return lvl, s
}
