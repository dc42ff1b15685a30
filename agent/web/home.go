package web

import (
	"net/http"

	"stationsync/agent"
)

// The home page: the register's figures, the urgent visits, who is due a
// visit, and the county's decisions nobody has opened yet.

type homeData struct {
	Counts  agent.Counts
	Urgent  []agent.VisitRow
	Overdue []agent.PersonRow
	Today   string
	// Decisions the county sent that no cadre has opened yet.
	Decisions      []agent.Decision
	DecisionsTotal int
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	today := s.today()
	c, err := s.a.Store.Counts(ctx, today)
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	urgent, _, err := s.a.Store.Visits(ctx, agent.VisitQuery{Risk: "紧急", Live: true, Limit: 5})
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	overdue, _, err := s.a.Store.SearchPersons(ctx, agent.PersonQuery{Overdue: true, Today: today, Limit: 5})
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	d := homeData{Counts: c, Urgent: urgent, Overdue: overdue, Today: today}
	if d.Decisions, d.DecisionsTotal, err = s.a.Store.NewDecisions(ctx, 10); err != nil {
		s.fail(w, r, se, err)
		return
	}
	s.render(w, r, se, http.StatusOK, "home", page{Title: "首页", Nav: "home", Data: d})
}

func (s *Server) today() string { return agent.Today(s.opts.Now()) }
