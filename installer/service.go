package installer

import (
	"embed"
	"errors"
	"fmt"
	"os/user"
	"regexp"
	"runtime"
	"strings"

	"github.com/kardianos/service"
)

//go:embed packaging/station-agent.service packaging/county-server.service
var units embed.FS

// ServiceUser is the Linux account the services run as; the .deb creates
// it. Windows services run as LocalSystem.
const ServiceUser = "stationsync"

// Service is one of the two programs registered as a system service.
type Service struct {
	Name        string // service and unit name: station-agent or county-server
	DisplayName string // what the Windows service list shows
	Description string
	Exe         string   // absolute path of the program
	Args        []string // what the service manager runs: "run --service --data DIR"
	DataDir     string
	User        string // Linux account; empty: root
}

// StationService is the station agent's service, for the program at exe
// keeping its data in dataDir.
func StationService(exe, dataDir string) Service {
	return Service{
		Name: "station-agent", DisplayName: "村站通 站点服务 (stationsync station agent)",
		Description: "村站通：离线记录村站数据，联网时自动同步到县级服务器。",
		Exe:         exe, DataDir: dataDir, User: linuxUser(),
		// `run --service` enters the service dispatcher directly instead of
		// guessing whether it runs as a service: Wine runs services in
		// session 1, where the guess says "interactive" (issue 5).
		Args: []string{"run", "--service", "--data", dataDir},
	}
}

// CountyService is the county server's service.
func CountyService(exe, dataDir, listen string) Service {
	return Service{
		Name: "county-server", DisplayName: "村站通 县级服务器 (stationsync county server)",
		Description: "村站通：县级服务器，接收各村站的记录并下发审核结果。",
		Exe:         exe, DataDir: dataDir, User: linuxUser(),
		Args: []string{"serve", "--service", "--data", dataDir, "--listen", listen},
	}
}

// linuxUser is ServiceUser if that account exists (the .deb made it),
// else root.
func linuxUser() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	if _, err := user.Lookup(ServiceUser); err != nil {
		return ""
	}
	return ServiceUser
}

// config is the kardianos configuration, with every pitfall of LESSONS
// handled explicitly rather than left to the library's defaults.
func (s Service) config() *service.Config {
	c := &service.Config{
		Name: s.Name, DisplayName: s.DisplayName, Description: s.Description,
		Executable: s.Exe, Arguments: s.Args,
		Option: service.KeyValue{
			// Windows: recovery is configured only if OnFailure is set
			// (kardianos/service#401); restart after 5 s, forget failures
			// after a day. The non-crash flag is set after install
			// (SetRecovery).
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
			"OnFailureResetPeriod":   86400,
			"StartType":              "automatic",
			// systemd: our own unit (Restart=always, RestartSec=5, no start
			// rate limit, After=network-online.target), not the template
			// with RestartSec=120 (kardianos/service#271).
			"SystemdScript": UnitTemplate(s.Name),
		},
	}
	// Dependencies are unit lines on systemd and service names on Windows
	// (kardianos/service#173); the unit already has its [Unit] lines.
	if s.User != "" {
		c.UserName = s.User
	}
	return c
}

// Unit is the systemd unit the package ships for name.
func Unit(name string) string {
	b, err := units.ReadFile("packaging/" + name + ".service")
	if err != nil {
		panic(err)
	}
	return string(b)
}

var (
	execStartLine = regexp.MustCompile(`(?m)^ExecStart=.*$`)
	userLines     = regexp.MustCompile(`(?m)^User=.*\nGroup=.*$`)
)

// UnitTemplate is the packaged unit as a kardianos template: the program's
// own path and arguments, and the account only if there is one.
func UnitTemplate(name string) string {
	u := Unit(name)
	u = execStartLine.ReplaceAllLiteralString(u, `ExecStart={{.Path|cmdEscape}}{{range .Arguments}} {{.|cmd}}{{end}}`)
	u = userLines.ReplaceAllLiteralString(u, `{{if .UserName}}User={{.UserName}}{{end}}`)
	// A data directory outside /var/lib is created by the installer, not
	// systemd; StateDirectory would still make the default one.
	return u
}

type nopProgram struct{}

func (nopProgram) Start(service.Service) error { return nil }
func (nopProgram) Stop(service.Service) error  { return nil }

func (s Service) control() (service.Service, error) {
	return service.New(nopProgram{}, s.config())
}

// InstallService registers the service (it does not start it).
func InstallService(s Service) error {
	ks, err := s.control()
	if err != nil {
		return err
	}
	if err := ks.Install(); err != nil {
		return fmt.Errorf("install service %s: %w", s.Name, err)
	}
	if err := SetRecovery(s.Name); err != nil {
		return fmt.Errorf("set recovery actions of %s: %w", s.Name, err)
	}
	return nil
}

// Control runs start, stop, restart or uninstall on the service.
func Control(s Service, action string) error {
	ks, err := s.control()
	if err != nil {
		return err
	}
	if err := service.Control(ks, action); err != nil {
		return fmt.Errorf("%s service %s: %w", action, s.Name, err)
	}
	return nil
}

// ServiceState says whether the service is installed and running, in
// words for a person.
func ServiceState(s Service) (state string, running bool) {
	ks, err := s.control()
	if err != nil {
		return "无法查询服务：" + err.Error(), false
	}
	st, err := ks.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "未安装为系统服务", false
	case err != nil:
		return "无法查询服务：" + strings.TrimSpace(err.Error()), false
	case st == service.StatusRunning:
		return "正在运行", true
	case st == service.StatusStopped:
		return "已安装，未运行", false
	}
	return "状态未知", false
}
