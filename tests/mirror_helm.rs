//! `mirror.helm` end to end: charts from a chart repository on loopback (`mirror/chart_repo.rs`)
//! and from a local directory, their images read from a `docker-registry` source and written to
//! our registry, in all three workflows. Disk to mirror runs with the chart repository stopped
//! and the local chart gone: the archives must carry the charts.

#[path = "mirror/chart_repo.rs"]
mod chart_repo;
mod common;
#[path = "mirror/fixtures.rs"]
mod fixtures;
#[path = "mirror/workspace.rs"]
mod workspace;

use std::path::Path;

use chart_repo::{ChartRepo, Entry, chart_dir, chart_tgz, index_yaml, sha256_hex};
use common::Registry;
use fixtures::{Http, Source};
use workspace::{Workspace, archives, file_url, stderr, tar_members};

/// The repository chart `web`, version `version`: a Deployment whose image is built from
/// values (`repository` + the tag, defaulting to the chart's appVersion), an init container
/// named in a helper template, and a ConfigMap naming a third image (found via `imagePaths`).
fn web_chart(version: &str, s: &str, image_tag: &str) -> Vec<u8> {
    let files = vec![
        ("Chart.yaml", format!("apiVersion: v2\nname: web\nversion: {version}\nappVersion: \"{image_tag}\"\n")),
        (
            "values.yaml",
            format!("image:\n  repository: {s}/apps/web\n  tag: \"\"\nhelper:\n  image: {s}/apps/api:v1\nreplicas: 2\n"),
        ),
        (
            "templates/_helpers.tpl",
            "{{- define \"web.fullname\" -}}{{ printf \"%s-%s\" .Release.Name .Chart.Name | trunc 63 | trimSuffix \"-\" }}{{- end }}\n\
             {{- define \"web.helper\" -}}{{ .Values.helper.image | quote }}{{- end }}\n"
                .to_string(),
        ),
        (
            "templates/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"web.fullname\" . }}\nspec:\n  replicas: {{ .Values.replicas }}\n  template:\n    spec:\n      initContainers:\n      - name: init\n        image: {{ include \"web.helper\" . }}\n      containers:\n      - name: web\n        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}\"\n"
                .to_string(),
        ),
        (
            "templates/configmap.yaml",
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ include \"web.fullname\" . }}}}-extra\ndata:\n  image: {s}/deep/a/b/c/app:v1\n"),
        ),
        ("templates/NOTES.txt", "Thanks for installing {{ .Chart.Name }}\n".to_string()),
    ];
    chart_tgz("web", &files)
}

/// A repository serving `web` 1.0.0 (an image that must not be mirrored: only the latest
/// version is asked for) and 1.1.0, and a library chart.
fn repository(s: &str) -> ChartRepo {
    let repo = ChartRepo::start();
    let old = web_chart("1.0.0", s, "v1-docker");
    let new = web_chart("1.1.0", s, "v1");
    let library = chart_tgz(
        "common",
        &[
            ("Chart.yaml", "apiVersion: v2\nname: common\nversion: 2.0.0\ntype: library\n".to_string()),
            ("templates/_names.tpl", "{{- define \"common.name\" -}}x{{- end }}\n".to_string()),
        ],
    );
    let entries = [
        Entry { name: "web", version: "1.0.0", library: false, url: "web-1.0.0.tgz".into(), digest: sha256_hex(&old) },
        Entry { name: "web", version: "1.1.0", library: false, url: "web-1.1.0.tgz".into(), digest: sha256_hex(&new) },
        Entry {
            name: "common",
            version: "2.0.0",
            library: true,
            url: "common-2.0.0.tgz".into(),
            digest: sha256_hex(&library),
        },
    ];
    repo.put("/stable/index.yaml", index_yaml(&entries).into_bytes());
    repo.put("/stable/web-1.0.0.tgz", old);
    repo.put("/stable/web-1.1.0.tgz", new);
    repo.put("/stable/common-2.0.0.tgz", library);
    repo
}

/// A local chart directory whose Pod names `multi/arch:v1`.
fn local_chart(dir: &Path, s: &str) {
    chart_dir(
        dir,
        &[
            ("Chart.yaml", "apiVersion: v2\nname: tools\nversion: 0.3.0\n".to_string()),
            ("values.yaml", format!("toolbox: {s}/multi/arch:v1\n")),
            (
                "templates/pod.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: toolbox\nspec:\n  containers:\n  - name: t\n    image: {{ .Values.toolbox }}\n"
                    .to_string(),
            ),
        ],
    );
}

fn helm_isc(ws: &Workspace, repo_url: &str, local: &Path) -> std::path::PathBuf {
    ws.write_isc(
        "isc.yaml",
        &format!(
            "mirror:\n  helm:\n    repositories:\n    - name: stable\n      url: {repo_url}/stable\n      charts:\n      - name: web\n        imagePaths:\n        - \"{{.data.image}}\"\n    local:\n    - name: tools\n      path: {}\n",
            local.display()
        ),
    )
}

/// Mirror to mirror of `isc` into `dest` under `mirror/`, with `ws/` as the workspace.
fn mirror_to_mirror(ws: &Workspace, isc: &Path, dest: &Registry) -> std::process::Output {
    let target = format!("docker://{}/mirror", dest.host);
    let workspace = file_url(&ws.path("ws"));
    ws.mirror(
        "cache",
        &["-c", isc.to_str().expect("utf-8"), "--workspace", &workspace, &target, "--dest-tls-verify=false"],
    )
}

/// The repositories each chart image lands in, and the one that must not.
const MIRRORED: [(&str, &str); 4] =
    [("apps/web", "v1"), ("apps/api", "v1"), ("deep/a/b/c/app", "v1"), ("multi/arch", "v1")];

#[test]
fn charts_from_a_repository_and_a_directory_are_rendered_and_their_images_mirrored() {
    let Some(source) = Source::start() else { return };
    let (src, s) = (source.http(), source.host().to_string());
    let repo = repository(&s);
    let ws = Workspace::new();
    let local = ws.path("tools-chart");
    local_chart(&local, &s);
    let isc = helm_isc(&ws, &repo.url(), &local);
    let dest = Registry::ours();
    let out = mirror_to_mirror(&ws, &isc, &dest);
    assert!(out.status.success(), "mirror to mirror of helm charts failed: {}", stderr(&out));
    let mirrored = Http::new(&dest.url());
    for (repo_name, tag) in MIRRORED {
        src.assert_same_image(repo_name, tag, &mirrored, &format!("mirror/{repo_name}"), tag);
    }
    assert!(mirrored.manifest("mirror/apps/web", "v1-docker").is_none(), "web 1.0.0 is not the latest version");
    let requests = repo.requests();
    assert!(requests.contains(&"/stable/web-1.1.0.tgz".to_string()), "{requests:?}");
    assert!(!requests.iter().any(|r| r.contains("web-1.0.0") || r.contains("common")), "{requests:?}");
    // Chart images are named by tag: the cluster finds them through the ITMS.
    let itms = std::fs::read_to_string(ws.path("ws/working-dir/cluster-resources/itms-oc-mirror.yaml")).expect("itms");
    assert!(itms.contains(&format!("source: {s}/apps\n")) && itms.contains("itms-generic-0"), "{itms}");
    assert!(
        ws.path("ws/working-dir/helm/charts/web-1.1.0.tgz").is_file(),
        "the chart is kept where oc-mirror keeps it"
    );
}

#[test]
fn mirror_to_disk_archives_the_charts_and_disk_to_mirror_needs_neither_repository_nor_directory() {
    let Some(source) = Source::start() else { return };
    let (src, s) = (source.http(), source.host().to_string());
    let mut repo = repository(&s);
    let ws = Workspace::new();
    let local = ws.path("tools-chart");
    local_chart(&local, &s);
    let isc = helm_isc(&ws, &repo.url(), &local);
    let out_dir = ws.path("out");
    let out = ws.mirror("cache", &["-c", isc.to_str().expect("utf-8"), &file_url(&out_dir)]);
    assert!(out.status.success(), "mirror to disk failed: {}", stderr(&out));
    let written = archives(&out_dir);
    let members: Vec<String> = written.iter().flat_map(|a| tar_members(a)).collect();
    let port = repo.url().rsplit(':').next().expect("port").to_string();
    for wanted in [
        "working-dir/helm/charts/web-1.1.0.tgz".to_string(),
        format!("working-dir/helm/indexes/127.0.0.1_{port}/stable/index.yaml"),
        "working-dir/helm/local/tools.tgz".to_string(),
    ] {
        assert!(members.contains(&wanted), "{wanted} not archived: {members:?}");
    }
    assert!(!members.iter().any(|m| m.contains("web-1.0.0")), "only the chosen version is archived");

    // The disconnected side: no chart repository, no chart directory, a fresh cache.
    repo.stop();
    std::fs::remove_dir_all(&local).expect("remove the local chart");
    let far = Workspace::new();
    let carried = far.path("carried");
    std::fs::create_dir_all(&carried).expect("mkdir");
    for a in &written {
        std::fs::copy(a, carried.join(a.file_name().expect("name"))).expect("carry");
    }
    let dest = Registry::ours();
    let target = format!("docker://{}/mirror", dest.host);
    let out = far.mirror(
        "cache",
        &["-c", isc.to_str().expect("utf-8"), "--from", &file_url(&carried), &target, "--dest-tls-verify=false"],
    );
    assert!(out.status.success(), "disk to mirror failed: {}", stderr(&out));
    let mirrored = Http::new(&dest.url());
    for (repo_name, tag) in MIRRORED {
        src.assert_same_image(repo_name, tag, &mirrored, &format!("mirror/{repo_name}"), tag);
    }

    // `--delete` (oc-mirror's flag for the delete subcommand) lists the charts' images, still
    // offline, from the same working dir.
    let isc_text = std::fs::read_to_string(&isc).expect("read isc");
    let delete_isc = far.write_delete_isc(
        "delete.yaml",
        &isc_text.replace("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:", "delete:"),
    );
    let out = far.mirror(
        "cache",
        &[
            "--delete",
            "-c",
            delete_isc.to_str().expect("utf-8"),
            "--generate",
            "--workspace",
            &file_url(&carried),
            &target,
        ],
    );
    assert!(out.status.success(), "delete --generate failed: {}", stderr(&out));
    let list = std::fs::read_to_string(carried.join("working-dir/delete/delete-images.yaml")).expect("delete list");
    assert_eq!(list.matches("type: helmImage").count(), MIRRORED.len(), "{list}");
    assert!(list.contains(&format!("imageReference: docker://{}/mirror/apps/web:v1", dest.host)), "{list}");
}

#[test]
fn a_chart_that_cannot_be_had_fails_with_the_helm_exit_bit_and_the_rest_is_mirrored() {
    let Some(source) = Source::start() else { return };
    let (src, s) = (source.http(), source.host().to_string());
    let repo = ChartRepo::start();
    let good = web_chart("1.1.0", &s, "v1");
    let tampered = web_chart("2.0.0", &s, "v1");
    let entries = [
        Entry { name: "web", version: "1.1.0", library: false, url: "web-1.1.0.tgz".into(), digest: sha256_hex(&good) },
        Entry {
            name: "web",
            version: "2.0.0",
            library: false,
            url: "web-2.0.0.tgz".into(),
            digest: sha256_hex(b"other"),
        },
    ];
    repo.put("/r/index.yaml", index_yaml(&entries).into_bytes());
    repo.put("/r/web-1.1.0.tgz", good);
    repo.put("/r/web-2.0.0.tgz", tampered);
    let ws = Workspace::new();
    let isc = ws.write_isc(
        "isc.yaml",
        &format!(
            "mirror:\n  additionalImages:\n  - name: {s}/digest/only:v1\n  helm:\n    repositories:\n    - name: r\n      url: {}/r\n      charts:\n      - name: web\n        version: 9.9.9\n      - name: web\n        version: 2.0.0\n",
            repo.url()
        ),
    );
    let dest = Registry::ours();
    let out = mirror_to_mirror(&ws, &isc, &dest);
    assert_eq!(out.status.code(), Some(16), "helm failures set oc-mirror's helm bit only: {}", stderr(&out));
    let mirrored = Http::new(&dest.url());
    src.assert_same_image("digest/only", "v1", &mirrored, "mirror/digest/only", "v1");
    let logs = ws.path("ws/working-dir/logs");
    let log: String = std::fs::read_dir(&logs)
        .expect("logs")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read log"))
        .collect();
    assert!(log.contains("chart web 9.9.9: not in repository r (versions there: 1.1.0, 2.0.0)"), "{log}");
    assert!(log.contains("web-2.0.0.tgz: digest mismatch"), "{log}");
    assert!(!ws.path("ws/working-dir/helm/charts/web-2.0.0.tgz").exists(), "a chart that fails its digest is not kept");
}
