package web

import (
	"regexp"
	"strings"
)

// The last sync error is stored as Go wrote it ("Post \"https://…/v1/push\":
// dial tcp …: connect: connection refused", "syncproto: server answered 403
// revoked: …"). A cadre reads the class of the problem and what to do; the
// raw text stays one click away (详细) for the installer on the phone.

// answerRe reads the status, code and Chinese message of an error answer
// (syncproto.Error).
var answerRe = regexp.MustCompile(`server answered (\d{3}) ([a-z_]+): ?(.*)$`)

// Sentences for the classes of failure that need more than a wait.
const (
	reasonUnreachable = "连不上县级服务器（网络不通，或县里的服务器没有开）。录入的内容都已保存在本机，联网后会自动上传"
	reasonBusy        = "县级服务器正忙，稍后会自动重试，不用处理"
	reasonCountyFault = "县级服务器出了故障，稍后会自动重试；一直如此时请告诉县里的信息员"
	reasonClock       = "这台电脑的时间与县里相差太大，已按县里的时间校正，下次会自动重试；请把电脑右下角的日期和时间改对"
	reasonRevoked     = "这个站点已被县里停用，不能再同步。录入的内容仍在本机；请联系县民政局"
	reasonUnknownStn  = "县里没有这个站点的注册记录（可能已被删除或连错了县级服务器），请联系县里的信息员重新注册"
	reasonSignature   = "县里认不出这个站点的签名，请联系县里的信息员重新注册"
	reasonVersion     = "这台电脑上的村站通版本与县里的不兼容，请联系信息员升级村站通"
	reasonWrongVill   = "县里登记的这个站点属于另一个村，请联系县里的信息员核对注册"
	reasonTLSTime     = "县级服务器的证书已过期或还没生效：多半是这台电脑的日期不对，请先把电脑的日期和时间改对"
	reasonTLSPin      = "县级服务器的证书与注册时的不一致：可能连到了别的服务器。请不要继续使用，联系县里的信息员"
	reasonTLS         = "与县级服务器的加密连接没有建立（证书无法验证）：请检查电脑的日期时间，或联系县里的信息员"
	reasonDisk        = "本机磁盘已满或不能写入，同步结果无法保存。已录入的内容不会丢；请删除不用的文件腾出空间，或联系信息员"
	reasonDNS         = "找不到县级服务器（地址无法解析）：请检查网络，或在「设置」里检查县级服务器地址"
	reasonNotCounty   = "收到的不是县级服务器的应答：请在「设置」里检查县级服务器地址，或检查网络是否需要先登录"
	reasonRestored    = "县里的数据与本站对不上（县级服务器可能恢复过备份），请联系县里的信息员"
	reasonIncomplete  = "县里的应答不完整，稍后会自动重试"
)

// PlainReason turns a sync error into a sentence a cadre can act on. The
// classes are checked from the most specific: an answer of the county
// (its code says what happened), then the disk, certificates, name look-up
// and the network.
func PlainReason(err string) string {
	switch {
	case err == "":
		return ""
	case strings.Contains(err, "站点尚未注册"):
		return "站点尚未注册：可以先离线录入，联网后再完成注册"
	case strings.Contains(err, "注册待确认"):
		return "注册待确认：请在「站点注册」核对县级服务器后确认，之前录入的记录确认后才会上传"
	}
	if m := answerRe.FindStringSubmatch(err); m != nil {
		status, code, msg := m[1], m[2], strings.TrimSpace(m[3])
		if strings.HasPrefix(code, "code_") && msg != "" {
			return "注册没有完成：" + msg
		}
		switch code {
		case "revoked":
			return reasonRevoked
		case "unknown_station":
			return reasonUnknownStn
		case "bad_signature":
			return reasonSignature
		case "clock_skew":
			return reasonClock
		case "version_unsupported":
			return reasonVersion
		case "wrong_village":
			return reasonWrongVill
		case "overloaded", "rate_limited", "too_many":
			return reasonBusy
		case "internal":
			return reasonCountyFault
		case "http":
			// Not the county's own answer: a proxy, a captive portal or a
			// carrier's page.
			if status == "502" || status == "503" || status == "504" {
				return reasonBusy
			}
			return reasonNotCounty
		}
		switch {
		case status == "429", status == "503", status == "502", status == "504":
			return reasonBusy
		case status[0] == '5':
			return reasonCountyFault
		case msg != "" && hasHan(msg):
			return "县里拒绝了同步：" + msg
		}
		return reasonCountyFault
	}
	low := strings.ToLower(err)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(low, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("磁盘", "不能写入", "disk is full", "no space left", "disk i/o error", "read-only file system", "readonly database"):
		return reasonDisk
	case has("expired or is not yet valid", "certificate has expired", "not yet valid"):
		return reasonTLSTime
	case has("pinned"):
		return reasonTLSPin
	case has("x509", "certificate", "tls:"):
		return reasonTLS
	case has("no such host", "server misbehaving"):
		return reasonDNS
	case has("decode answer", "意外的应答"):
		return reasonNotCounty
	case has("county expects change"):
		return reasonRestored
	case has("acknowledged no change", "answer names epoch"):
		return reasonIncomplete
	}
	return reasonUnreachable
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}
