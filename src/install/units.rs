//! The systemd units, rendered from the templates in `systemd/` (embedded in the binary).

use std::path::Path;

use super::layout::{GC_SERVICE, GC_TIMER, Layout, SERVICE, Scope};

const SERVICE_TEMPLATE: &str = include_str!("../../systemd/mirror-registry.service.in");
const GC_SERVICE_TEMPLATE: &str = include_str!("../../systemd/mirror-registry-gc.service.in");
const GC_TIMER_TEMPLATE: &str = include_str!("../../systemd/mirror-registry-gc.timer.in");

/// One rendered unit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// File name, e.g. `mirror-registry.service`.
    pub name: &'static str,
    /// Its text.
    pub text: String,
}

/// Quotes a path for a unit file line when it needs it (systemd splits on whitespace).
fn quoted(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s
    }
}

/// Sandboxing for system units. User units get only `NoNewPrivileges`: the mount-namespace
/// options need a system manager (or user namespaces, which RHEL 8's systemd cannot use there).
fn hardening(scope: Scope, layout: &Layout) -> String {
    let mut lines = vec!["NoNewPrivileges=yes".to_string()];
    if scope == Scope::System {
        let dirs = layout.writable_dirs();
        let list = dirs.iter().map(|d| quoted(d)).collect::<Vec<_>>().join(" ");
        lines.extend(["ProtectSystem=strict".into(), "PrivateTmp=yes".into(), "PrivateDevices=yes".into()]);
        lines.extend(["ProtectKernelTunables=yes".into(), "ProtectKernelModules=yes".into()]);
        lines.extend(["ProtectControlGroups=yes".into(), "RestrictSUIDSGID=yes".into(), "LockPersonality=yes".into()]);
        // The registry needs no capability beyond binding a port below 1024, sockets beyond
        // IP and unix (sd_notify), or system calls beyond a normal service's. All these keys are
        // known to RHEL 8's systemd 239.
        lines.extend([
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE".into(),
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6".into(),
            "RestrictNamespaces=yes".into(),
            "RestrictRealtime=yes".into(),
            "MemoryDenyWriteExecute=yes".into(),
            "SystemCallArchitectures=native".into(),
            "SystemCallFilter=@system-service".into(),
            "SystemCallErrorNumber=EPERM".into(),
            "RemoveIPC=yes".into(),
            "UMask=0077".into(),
        ]);
        // Data under a home directory cannot be reached through ProtectHome=yes; a tmpfs over
        // the homes with the data bound back in keeps the rest of them hidden.
        let in_home = dirs.iter().any(|d| ["/home", "/root", "/run/user"].iter().any(|h| d.starts_with(h)));
        if in_home {
            lines.push("ProtectHome=tmpfs".into());
            lines.push(format!("BindPaths={list}"));
        } else {
            lines.push("ProtectHome=yes".into());
        }
        lines.push(format!("ReadWritePaths={list}"));
    }
    lines.join("\n")
}

/// Renders the registry service, the GC service and the GC timer.
#[must_use]
pub fn render(scope: Scope, layout: &Layout, binary: &Path) -> Vec<Unit> {
    let (after, wanted_by) = match scope {
        Scope::System => ("Wants=network-online.target\nAfter=network-online.target\n", "multi-user.target"),
        Scope::User => ("", "default.target"),
    };
    let fill = |template: &str| {
        template
            .replace("@AFTER@\n", after)
            .replace("@BIN@", &quoted(binary))
            .replace("@CONFIG@", &quoted(&layout.config_file()))
            .replace("@HARDENING@", &hardening(scope, layout))
            .replace("@WANTED_BY@", wanted_by)
    };
    vec![
        Unit { name: SERVICE, text: fill(SERVICE_TEMPLATE) },
        Unit { name: GC_SERVICE, text: fill(GC_SERVICE_TEMPLATE) },
        Unit { name: GC_TIMER, text: fill(GC_TIMER_TEMPLATE) },
    ]
}

/// The config file an installed service unit runs with (`--config` on its `ExecStart=` line).
#[must_use]
pub fn config_of_unit(unit_text: &str) -> Option<std::path::PathBuf> {
    let exec = unit_text.lines().find_map(|l| l.strip_prefix("ExecStart="))?;
    let rest = exec.split_once(" --config ")?.1.trim();
    let path = match rest.strip_prefix('"') {
        Some(q) => q.split_once('"')?.0.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => rest.split_whitespace().next()?.to_string(),
    };
    Some(path.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_units_are_sandboxed_and_point_at_the_config() {
        let layout = Layout::resolve(Some(Path::new("/root/quay install")), Some(Path::new("/data/blobs")), None)
            .expect("layout");
        let units = render(Scope::System, &layout, Path::new("/usr/local/bin/mirror-registry"));
        let service = &units[0].text;
        assert!(service.contains("Type=notify") && service.contains("Alias=quay-app.service"));
        assert!(service.contains("ProtectSystem=strict") && service.contains("ProtectHome=tmpfs"));
        assert!(service.contains("ReadWritePaths=\"/root/quay install\" /data/blobs"), "{service}");
        assert!(service.contains("WantedBy=multi-user.target"));
        for unit in &units {
            for placeholder in ["@AFTER@", "@BIN@", "@CONFIG@", "@HARDENING@", "@WANTED_BY@"] {
                assert!(!unit.text.contains(placeholder), "{placeholder} left in {}", unit.name);
            }
        }
        assert_eq!(config_of_unit(service), Some("/root/quay install/quay-config/config.yaml".into()));
        assert!(units[2].text.contains("OnCalendar=hourly"));
    }

    #[test]
    fn user_units_skip_namespaces() {
        let layout = Layout::resolve(Some(Path::new("/home/u/quay-install")), None, None).expect("layout");
        let units = render(Scope::User, &layout, Path::new("/home/u/.local/bin/mirror-registry"));
        assert!(!units[0].text.contains("ProtectSystem") && units[0].text.contains("WantedBy=default.target"));
        assert_eq!(config_of_unit(&units[0].text), Some(layout.config_file()));
    }
}
