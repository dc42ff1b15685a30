package records

import "fmt"

// Application statuses. The codes are English; pages show StatusLabel.
const (
	StatusDraft     = "draft"
	StatusSubmitted = "submitted"
	StatusAccepted  = "accepted"
	StatusReviewing = "reviewing"
	StatusApproved  = "approved"
	StatusRejected  = "rejected"
	StatusReturned  = "returned"
	StatusWithdrawn = "withdrawn"
)

// AppStatuses lists every application status.
var AppStatuses = []string{StatusDraft, StatusSubmitted, StatusAccepted, StatusReviewing, StatusApproved, StatusRejected, StatusReturned, StatusWithdrawn}

// StatusLabel is the Chinese name of an application status.
var StatusLabel = map[string]string{
	StatusDraft:     "草稿",
	StatusSubmitted: "已提交",
	StatusAccepted:  "已受理",
	StatusReviewing: "审核中",
	StatusApproved:  "已批准",
	StatusRejected:  "未批准",
	StatusReturned:  "退回补充",
	StatusWithdrawn: "已撤回",
}

// Op is what a change asks for. Upsert sets fields; the others are intents
// that the county's state machine decides on.
type Op string

// The operations a change may carry.
const (
	OpUpsert   Op = "upsert"
	OpSubmit   Op = "submit"   // station: draft → submitted
	OpResubmit Op = "resubmit" // station: returned → submitted
	OpWithdraw Op = "withdraw" // station: draft|submitted|returned → withdrawn
	OpAccept   Op = "accept"   // county: submitted → accepted
	OpReview   Op = "review"   // county: submitted|accepted → reviewing
	OpApprove  Op = "approve"  // county: accepted|reviewing → approved
	OpReject   Op = "reject"   // county: accepted|reviewing → rejected
	OpReturn   Op = "return"   // county: submitted|accepted|reviewing → returned
)

type transition struct {
	from   []string
	to     string
	county bool
}

var transitions = map[Op]transition{
	OpSubmit:   {from: []string{StatusDraft}, to: StatusSubmitted},
	OpResubmit: {from: []string{StatusReturned}, to: StatusSubmitted},
	OpWithdraw: {from: []string{StatusDraft, StatusSubmitted, StatusReturned}, to: StatusWithdrawn},
	OpAccept:   {from: []string{StatusSubmitted}, to: StatusAccepted, county: true},
	OpReview:   {from: []string{StatusSubmitted, StatusAccepted}, to: StatusReviewing, county: true},
	OpApprove:  {from: []string{StatusAccepted, StatusReviewing}, to: StatusApproved, county: true},
	OpReject:   {from: []string{StatusAccepted, StatusReviewing}, to: StatusRejected, county: true},
	OpReturn:   {from: []string{StatusSubmitted, StatusAccepted, StatusReviewing}, to: StatusReturned, county: true},
}

// IsIntent reports whether op is a state-machine transition.
func IsIntent(op Op) bool { _, ok := transitions[op]; return ok }

// IsCountyOp reports whether op is a county decision.
func IsCountyOp(op Op) bool { return transitions[op].county }

// Transition returns the status an application moves to when op is applied
// in status from, or a *FieldError in Chinese when the state machine does not
// allow it (a stale station can never move an approved application back).
func Transition(op Op, from string) (string, error) {
	t, ok := transitions[op]
	if !ok {
		return "", &FieldError{Field: "status", Message: "未知的操作 " + string(op)}
	}
	for _, f := range t.from {
		if f == from {
			return t.to, nil
		}
	}
	return "", &FieldError{Field: "status", Message: "申请当前状态为「" + StatusLabel[from] + "」，不能" + opLabel[op]}
}

var opLabel = map[Op]string{
	OpSubmit: "提交", OpResubmit: "重新提交", OpWithdraw: "撤回",
	OpAccept: "受理", OpReview: "进入审核", OpApprove: "批准", OpReject: "不予批准", OpReturn: "退回补充",
}

// StationEditable reports whether the station may change an application's
// content in this status: only while it is a draft or was returned.
func StationEditable(status string) bool {
	return status == StatusDraft || status == StatusReturned || status == ""
}

// CountyOps lists the county decisions the state machine allows from
// status, in the order a reviewer meets them. direct adds approve and
// reject from 已提交 (DecisionPath), which policy may allow a county
// reviewer so that a complete application is decided in one action.
func CountyOps(status string, direct bool) []Op {
	var ops []Op
	for _, op := range []Op{OpAccept, OpReview, OpApprove, OpReject, OpReturn} {
		if _, err := DecisionPath(op, status, direct); err == nil {
			ops = append(ops, op)
		}
	}
	return ops
}

// DecisionPath returns the transitions that carry an application from
// status from by the county's op. It is op alone when the state machine
// allows it; with direct, approve and reject from 已提交 pass through
// 已受理 and 审核中 so that every step stays in the history.
func DecisionPath(op Op, from string, direct bool) ([]Op, error) {
	_, err := Transition(op, from)
	if err == nil {
		return []Op{op}, nil
	}
	if direct && from == StatusSubmitted && (op == OpApprove || op == OpReject) {
		return []Op{OpAccept, OpReview, op}, nil
	}
	return nil, err
}

// OpLabel is the Chinese name of an operation.
func OpLabel(op Op) string { return opLabel[op] }

// MonthlyAssistance reports whether an approved amount of this assistance
// type is paid every month (低保, 特困); every other type, 临时救助 first,
// is paid once.
func MonthlyAssistance(typ string) bool {
	return typ == "最低生活保障" || typ == "特困人员救助供养"
}

// AmountText says what an approved amount means for the type: "每月 650.00
// 元，自 2026-01 起" or "一次性 800.00 元（2026-01）". Pages, the audit log
// and the station use it so that nobody reads a one-off sum as monthly.
func AmountText(typ string, fen int64, from string) string {
	yuan := fmt.Sprintf("%.2f 元", float64(fen)/100)
	if MonthlyAssistance(typ) {
		if from == "" {
			return "每月 " + yuan
		}
		return "每月 " + yuan + "，自 " + from + " 起"
	}
	if from == "" {
		return "一次性 " + yuan
	}
	return "一次性 " + yuan + "（" + from + "）"
}
