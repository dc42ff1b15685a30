package web

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"stationsync/agent"
)

// Settings: the county's address, how often to sync, the township's phone
// and the village's name, with the station's version, data folder and the
// last lines of its log.

type settingsData struct {
	Form    *form
	Log     []string
	LogFrom string
	Status  agent.Status
	Version string
	DataDir string
	// The village's code, its name, and its name when nothing is typed (places.go).
	Village, VillageName, VillageDefault string
}

func (s *Server) configPath(ctx context.Context) string {
	if s.opts.ConfigPath != "" {
		return s.opts.ConfigPath
	}
	return filepath.Join(filepath.Dir(s.a.Store.DB().Path), agent.ConfigFileName)
}

func (s *Server) settingsData(ctx context.Context, f *form) settingsData {
	d := settingsData{Form: f, Version: agent.Version, DataDir: filepath.Dir(s.a.Store.DB().Path),
		Village: s.a.Store.Meta(ctx, "village"), VillageName: s.villageName(ctx, ""), VillageDefault: s.defaultVillageName(ctx)}
	d.Status, _ = s.a.Status(ctx)
	if s.opts.LogFile != "" {
		if lines, err := tailFile(s.opts.LogFile, 50); err == nil {
			d.Log, d.LogFrom = lines, s.opts.LogFile
		}
	}
	if d.Log == nil {
		lines := s.opts.Ring.Lines()
		if len(lines) > 50 {
			lines = lines[len(lines)-50:]
		}
		d.Log, d.LogFrom = lines, "本次运行以来（内存中）"
	}
	return d
}

func (s *Server) handleGetSettings(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	c, err := agent.ReadConfigFile(s.configPath(ctx))
	f := newForm(nil)
	if err != nil {
		f.fail("_form", "配置文件有误，保存后会被覆盖："+err.Error())
		c = agent.DefaultConfig()
	}
	server := c.Server
	if server == "" {
		server = s.a.Store.Meta(ctx, "server_url")
	}
	f.Values.Set("server", server)
	f.Values.Set("interval", strconv.Itoa(int(time.Duration(c.SyncInterval).Minutes())))
	if time.Duration(c.SyncInterval) < time.Minute {
		f.Values.Set("interval", "1")
	}
	f.Values.Set("township_phone", s.a.Store.Meta(ctx, metaTownshipPhone))
	f.Values.Set("village_name", s.a.Store.Meta(ctx, metaVillageNameLocal))
	s.render(w, r, se, http.StatusOK, "settings", page{Title: "设置", Nav: "settings", Data: s.settingsData(ctx, f)})
}

func (s *Server) handlePostSettings(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	f := newForm(v)
	c, err := agent.ReadConfigFile(s.configPath(ctx))
	if err != nil {
		c = agent.DefaultConfig()
	}
	server := strings.TrimRight(trimmed(v, "server"), "/")
	if server != "" && !strings.Contains(server, "://") {
		server = "http://" + server
	}
	if server != "" {
		if u, err := url.Parse(server); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			f.fail("server", "地址格式不对，应像 http://10.1.2.3:8870")
		}
	}
	phone := checkPhone(f, "township_phone", v.Get("township_phone"))
	min, err := strconv.Atoi(trimmed(v, "interval"))
	if err != nil || min < 1 || min > 1440 {
		f.fail("interval", "同步间隔请填 1 到 1440 之间的分钟数")
	}
	vname := trimmed(v, "village_name")
	if len([]rune(vname)) > maxVillageName || strings.ContainsAny(vname, "\r\n") {
		f.fail("village_name", "村名最多 "+strconv.Itoa(maxVillageName)+" 个字，例如 太华村")
	}
	if f.OK() {
		c.Server = server
		c.SyncInterval = agent.Duration(time.Duration(min) * time.Minute)
		if err := s.a.Store.SetMeta(ctx, map[string]string{metaTownshipPhone: phone, metaVillageNameLocal: vname}); err != nil {
			f.fail("_form", "保存乡镇电话失败："+err.Error())
		} else if err := agent.WriteConfigFile(s.configPath(ctx), c); err != nil {
			f.fail("_form", "保存设置失败："+err.Error())
		} else if err := s.a.ApplyConfig(ctx, c); err != nil {
			f.fail("_form", "设置已保存，但未能立即生效："+err.Error())
		}
	}
	if !f.OK() {
		s.render(w, r, se, http.StatusUnprocessableEntity, "settings", page{Title: "设置", Nav: "settings", Data: s.settingsData(ctx, f)})
		return
	}
	s.log.Info("settings changed from the pages", "by", se.account.Name, "server", server, "interval_min", min)
	s.a.Nudge()
	s.flash(se, "ok", "设置已保存并生效")
	s.redirect(w, r, "/settings")
}
