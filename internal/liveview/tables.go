package liveview

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wsgate/wsgate/tunnel"
)

// column is one column of a table. Columns of equal prio come and go
// together; a lower prio is dropped later. A column wider than min takes
// a share of the spare width up to max.
type column struct {
	title    string
	min, max int
	right    bool
	prio     int
	// cut says where a long value loses characters: at the end (default)
	// or at the start (keeping an address's port, the end of a path).
	cut cutAt
}

type cutAt int

const (
	cutEnd cutAt = iota
	cutStart
)

// layout gives each column its width, 0 for a column that does not fit:
// columns are taken by priority while they fit, then the flexible ones
// share what is left.
func layout(cols []column, width int) []int {
	w := make([]int, len(cols))
	used := -1 // no separator before the first column
	for prio := 0; prio <= 9; prio++ {
		need := 0
		for _, c := range cols {
			if c.prio == prio {
				need += c.min + 1
			}
		}
		if need == 0 || used+need > width {
			continue
		}
		used += need
		for i, c := range cols {
			if c.prio == prio {
				w[i] = c.min
			}
		}
	}
	for spare := width - used; spare > 0; {
		grew := false
		for i, c := range cols {
			if w[i] > 0 && w[i] < c.max && spare > 0 {
				w[i]++
				spare--
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	return w
}

// table lays out a header and rows of cells with the widths layout chose.
func table(cols []column, rows [][]string, width int) []string {
	w := layout(cols, width)
	cells := func(row []string) string {
		var b strings.Builder
		for i, c := range cols {
			if w[i] == 0 {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			var s string
			switch c.cut {
			case cutEnd:
				s = fit(row[i], w[i])
			case cutStart:
				s = fitLeft(row[i], w[i])
			}
			pad := strings.Repeat(" ", w[i]-utf8.RuneCountInString(s))
			if c.right {
				b.WriteString(pad + s)
			} else {
				b.WriteString(s + pad)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.title
	}
	out := []string{cells(head)}
	for _, r := range rows {
		out = append(out, cells(r))
	}
	return out
}

// memberRow is one balancer member with its balancer's name.
type memberRow struct {
	balancer string
	tunnel.MemberInfo
}

func memberRows(bs []tunnel.BalancerInfo) []memberRow {
	var rows []memberRow
	for _, b := range bs {
		for _, m := range b.Members {
			rows = append(rows, memberRow{b.Name, m})
		}
	}
	return rows
}

func memberTable(members []memberRow, width int) []string {
	cols := []column{
		{title: "BALANCER", min: 8, max: 24, prio: 3, cut: cutStart},
		{title: "MEMBER", min: 10, max: 30, prio: 0, cut: cutStart},
		{title: "STATE", min: 8, max: 20, prio: 0},
		{title: "OPEN", min: 4, max: 4, right: true, prio: 1},
		{title: "TOTAL", min: 5, max: 5, right: true, prio: 2},
		{title: "BYTES", min: 5, max: 5, right: true, prio: 2},
	}
	var rows [][]string
	for _, m := range members {
		state := m.State
		if state == "error" && !m.ErrorUntil.IsZero() {
			state += " until " + m.ErrorUntil.Format("15:04:05")
		}
		rows = append(rows, []string{m.balancer, m.URL, state, fmt.Sprint(m.Open), shortCount(int64(m.Total)), shortBytes(m.Bytes)})
	}
	return table(cols, rows, width)
}

func routeTable(routes []tunnel.RouteInfo, width int) []string {
	cols := []column{
		{title: "ROUTE", min: 10, max: 40, prio: 0, cut: cutStart},
		{title: "OPEN", min: 4, max: 4, right: true, prio: 1},
		{title: "TOTAL", min: 5, max: 5, right: true, prio: 3},
		{title: "UP", min: 5, max: 5, right: true, prio: 2},
		{title: "DOWN", min: 5, max: 5, right: true, prio: 2},
		{title: "MSG↑", min: 5, max: 5, right: true, prio: 4},
		{title: "MSG↓", min: 5, max: 5, right: true, prio: 4},
	}
	var rows [][]string
	for _, r := range routes {
		rows = append(rows, []string{r.Route, fmt.Sprint(r.Open), shortCount(int64(r.Total)),
			shortBytes(r.Up.Bytes), shortBytes(r.Down.Bytes), shortCount(r.Up.Messages), shortCount(r.Down.Messages)})
	}
	return table(cols, rows, width)
}

func (v *View) openTable(s tunnel.Snapshot, open []tunnel.TunnelInfo, width int, st *viewState) []string {
	idw := max(2, len(fmt.Sprint(s.Total)))
	cols := []column{
		{title: "ID", min: idw, max: idw, right: true, prio: 0},
		{title: "CLIENT", min: 9, max: 21, prio: 5, cut: cutStart},
		{title: "ROUTE", min: 8, max: 24, prio: 7, cut: cutStart},
		{title: "BACKEND", min: 10, max: 48, prio: 3, cut: cutStart},
		{title: "AGE", min: 5, max: 5, right: true, prio: 2},
		{title: "IDLE", min: 5, max: 5, right: true, prio: 4},
		{title: "UP", min: 5, max: 5, right: true, prio: 1},
		{title: "DOWN", min: 5, max: 5, right: true, prio: 1},
		{title: "MSG↑", min: 5, max: 5, right: true, prio: 6},
		{title: "MSG↓", min: 5, max: 5, right: true, prio: 6},
	}
	var rows [][]string
	for _, t := range open {
		last := t.Start
		if a, ok := st.active[t.ID]; ok {
			last = a.at
		}
		rows = append(rows, []string{fmt.Sprint(t.ID), t.Client, t.Route, t.Backend,
			shortAge(s.Time.Sub(t.Start)), shortAge(s.Time.Sub(last)),
			shortBytes(t.Up.Bytes), shortBytes(t.Down.Bytes), shortCount(t.Up.Messages), shortCount(t.Down.Messages)})
	}
	return table(cols, rows, width)
}

func closedTable(s tunnel.Snapshot, closed []tunnel.TunnelInfo, width int) []string {
	idw := max(2, len(fmt.Sprint(s.Total)))
	cols := []column{
		{title: "ID", min: idw, max: idw, right: true, prio: 0},
		{title: "BACKEND", min: 10, max: 40, prio: 4, cut: cutStart},
		{title: "AGO", min: 5, max: 5, right: true, prio: 3},
		{title: "LASTED", min: 6, max: 6, right: true, prio: 5},
		{title: "BY", min: 7, max: 7, prio: 1},
		{title: "CLIENT CLOSE", min: 6, max: 32, prio: 2},
		{title: "BACKEND CLOSE", min: 6, max: 32, prio: 2},
	}
	var rows [][]string
	for _, t := range closed {
		by := t.CloseFirst
		if by == "" {
			by = t.ClosedBy
		}
		ab := t.Abnormal()
		rows = append(rows, []string{fmt.Sprint(t.ID), t.Backend,
			shortAge(s.Time.Sub(t.End)), shortAge(t.End.Sub(t.Start)), by,
			closeCell(t.Up, t.Error, t.ClosedBy == "client", ab), closeCell(t.Down, t.Error, t.ClosedBy == "backend", ab)})
	}
	return table(cols, rows, width)
}

// closeCell is one side's close frame, "1000 bye", or "-" when it sent
// none. The side whose connection failed shows the tunnel's error; for
// an abnormal end (no close frame either way) as 1006, the code RFC 6455
// §7.1.5 gives a connection that closed without one, and the error's last
// part (the cause: "connection reset by peer").
func closeCell(f tunnel.Flow, errText string, failed, abnormal bool) string {
	switch {
	case f.CloseCode != 0 && f.CloseReason != "":
		return fmt.Sprintf("%d %s", f.CloseCode, f.CloseReason)
	case f.CloseCode != 0:
		return fmt.Sprint(f.CloseCode)
	case failed && abnormal && errText != "":
		if i := strings.LastIndex(errText, ": "); i >= 0 {
			errText = errText[i+len(": "):]
		}
		return "1006 " + errText
	case failed && abnormal:
		return "1006 abnormal"
	case failed && errText != "":
		return errText
	case f.Raw:
		return "(not ws)"
	}
	return "-"
}

func failureTable(failures []tunnel.FailureInfo, width int) []string {
	cols := []column{
		{title: "TIME", min: 8, max: 8, prio: 1},
		{title: "CLIENT", min: 9, max: 21, prio: 4, cut: cutStart},
		{title: "PATH", min: 8, max: 24, prio: 2},
		{title: "HTTP", min: 4, max: 4, right: true, prio: 0},
		{title: "REASON", min: 26, max: 26, prio: 0},
		{title: "ERROR", min: 10, max: 300, prio: 3},
	}
	var rows [][]string
	for _, f := range failures {
		rows = append(rows, []string{f.Time.Format(time.TimeOnly), f.Client, f.Path, fmt.Sprint(f.Status), f.Reason, f.Error})
	}
	return table(cols, rows, width)
}
