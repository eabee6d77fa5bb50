# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile inventory values for every apt file the collection writes (issue #31): deb822 sources and the pin file.

Each case ends in one of two outcomes: an error whose sentence names the variable (ValueProblem from the pure layer,
AnsibleFilterError from a filter or a role template, never a raw Python error), or a file that an independent deb822
reader (``deb822`` below, not the code under test) reads as exactly the fields meant - never ``Trusted: yes``, never
a second ``Pin-Priority``, never ``Components: m a i n``. The role templates themselves are rendered with Jinja and
the collection's filters.
"""
from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter import apt_sources as apt_filter
from ansible_collections.homelab.nvidia_gpu.plugins.filter import distro_mirror as dm_filter
from ansible_collections.homelab.nvidia_gpu.plugins.filter import nvidia_repo as nr_filter
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources as aps
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _container_runtime as cr
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _distro_mirror as dm
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _nvidia_repo as nr
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[3]
HYPOTHESIS = settings(max_examples=150, deadline=None)
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
# Text an attacker would try: a plausible value with a line break, a field and the separators apt and Python split on.
SMUGGLED = st.builds(lambda a, sep, b: a + sep + b,
                     st.sampled_from(["https://mirror.lab/debian", "stable", "main", "/etc/apt/keyrings",
                                      "release l=NVIDIA CUDA", "bookworm"]),
                     st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", " ", "\t",
                                      "\n ", "\n#", "\x00"]),
                     st.sampled_from(["Trusted: yes", "Pin-Priority: 1001", "Signed-By: /tmp/evil.gpg",
                                      "Allow-Insecure: yes", "[trusted=yes]", "Enabled: no", ""]))
hostile = st.one_of(text, SMUGGLED, st.integers(), st.booleans(), st.none(), st.lists(text, max_size=3),
                    st.dictionaries(text, text, max_size=2))


def deb822(content: str) -> list[list[tuple[str, str]]]:
    """(field, value) pairs of each stanza, read as apt reads a deb822 file: a line starting with # is a comment,
    blank lines separate stanzas, a line starting with a space or a tab continues the field before it (kept here as
    its own ("", line) entry, so that a test sees it). Anything str.splitlines breaks on counts as a line end."""
    stanzas, current = [], []
    for line in content.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current = []
        elif line[0] in " \t":
            current.append(("", line))
        else:
            name, _colon, value = line.partition(":")
            current.append((name, value.strip()))
    return stanzas + ([current] if current else [])


def names_of(content: str) -> list[list[str]]:
    return [[field for field, _value in stanza] for stanza in deb822(content)]


SOURCE = ["Types", "URIs", "Suites", "Signed-By"]
SOURCE_WITH_COMPONENTS = ["Types", "URIs", "Suites", "Components", "Signed-By"]


# --- the renderer itself -------------------------------------------------------------------------------------------

def test_a_stanza_renders_exactly_its_fields_in_order():
    out = aps.sources_file([{"Signed-By": "/etc/apt/keyrings/docker.gpg", "Components": ["stable"],
                             "Suites": ["bookworm"], "URIs": ["https://download.docker.com/linux/debian"],
                             "Architectures": ["amd64", "arm64"], "Types": ["deb"]}], comments=["head"])
    assert out == ("# head\nTypes: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\n"
                   "Components: stable\nArchitectures: amd64 arm64\nSigned-By: /etc/apt/keyrings/docker.gpg\n")


@pytest.mark.parametrize(("stanza", "names", "needle"), [
    ({"Components": "main"}, {"Components": "distro_mirror_components"},
     "distro_mirror_components must be a list, not 'main'"),
    ({"Components": ["main\nTrusted: yes"]}, {"Components": "channel"}, "channel must be a single line"),
    ({"Components": ["ma in"]}, {"Components": "channel"}, "channel must be one word"),
    ({"Components": []}, {"Components": "comps"}, "comps must name at least one component"),
    ({"URIs": ["https://m.lab/debian\nTrusted: yes"]}, {"URIs": "the_url"}, "the_url must be a single line"),
    ({"URIs": ["https://m.lab/debian [trusted=yes]"]}, {"URIs": "the_url"}, "the_url must be a URL"),
    ({"URIs": ["ftp://m.lab/debian"]}, {"URIs": "the_url"}, "the_url must be a URL starting with https://"),
    ({"URIs": "https://m.lab/debian"}, {"URIs": "the_url"}, "the_url must be a list"),
    ({"Signed-By": "keyrings/docker.gpg"}, {"Signed-By": "keyring_dir"}, "keyring_dir must be an absolute path"),
    ({"Signed-By": "/etc/apt/k.gpg\nTrusted: yes"}, {"Signed-By": "keyring_dir"}, "keyring_dir must be a single"),
    ({"Trusted": "yes"}, {}, "does not write the field(s) Trusted"),
    ({"Signed-By": None}, {}, "needs Signed-By"),
    ({"Suites": ["/"], "Components": ["main"]}, {"Suites": "suite"}, "suite: a suite that ends with / (a flat"),
    ({"Types": ["deb", "rpm"]}, {"Types": "types"}, "types[1] must be deb or deb-src"),
    ({"Architectures": ["amd64", "ARM 64"]}, {"Architectures": "arch"}, "arch[1] must be one word"),
    ({"Suites": ["#bookworm"]}, {"Suites": "release"}, "release must be one word"),
])
def test_what_apt_would_misread_is_refused_naming_the_variable(stanza, names, needle):
    base = {"Types": ["deb"], "URIs": ["https://m.lab/debian"], "Suites": ["bookworm"], "Components": ["main"],
            "Signed-By": "/etc/apt/keyrings/x.gpg"}
    with pytest.raises(_values.ValueProblem) as caught:
        aps.sources_file([{**base, **stanza}], names)
    assert needle in str(caught.value)


@pytest.mark.parametrize(("pin", "needle"), [
    ({"Pin": "release l=NVIDIA CUDA\nPin-Priority: 1001"}, "selector must be a single line"),
    ({"Pin": "release l=x\u2028Pin-Priority: 1001"}, "selector must be a single line"),
    ({"Pin": "l=NVIDIA CUDA"}, "selector must be a selector of apt_preferences(5)"),
    ({"Pin-Priority": 0}, "must not be 0"),
    ({"Pin-Priority": True}, "must be a whole number"),
    ({"Pin-Priority": "600\nPin-Priority: 1001"}, "must be a whole number"),
    ({"Pin-Priority": 99999}, "must be a whole number of -32768 or more up to 32767"),
    ({"Package": "*\nPackage: evil"}, "package must be a single line"),
    ({"Explanation": "x"}, "has exactly the fields Package, Pin, Pin-Priority; not Explanation"),
])
def test_a_pin_that_apt_would_misread_is_refused(pin, needle):
    base = {"Package": "*", "Pin": "release l=NVIDIA CUDA", "Pin-Priority": 600}
    with pytest.raises(_values.ValueProblem) as caught:
        aps.preferences_file({**base, **pin}, {"Pin": "selector", "Package": "package"})
    assert needle in str(caught.value)


@pytest.mark.parametrize("comment", ["one\nTypes: deb", "a\rTrusted: yes", "b\u2028Signed-By: /x", "c\x00d\x1b[2J"])
def test_a_comment_stays_a_comment_whatever_it_holds(comment):
    out = aps.sources_file({"Types": ["deb"], "URIs": ["https://m.lab/d"], "Suites": ["/"],
                            "Signed-By": "/k.gpg"}, comments=[comment])
    assert names_of(out) == [SOURCE]
    assert all(line.startswith("#") for line in out.splitlines()[:-4])


@HYPOTHESIS
@given(field=st.sampled_from(["URIs", "Suites", "Components", "Architectures", "Types", "Signed-By"]), value=hostile,
       as_list=st.booleans())
def test_any_value_in_any_source_field_is_refused_by_name_or_stays_in_its_field(field, value, as_list):
    stanza = {"Types": ["deb"], "URIs": ["https://m.lab/debian"], "Suites": ["bookworm"], "Components": ["main"],
              "Signed-By": "/etc/apt/keyrings/x.gpg"}
    stanza[field] = [value] if as_list and field != "Signed-By" else value
    try:
        out = aps.sources_file([stanza], {field: "the_variable"})
    except _values.ValueProblem as exc:
        assert "the_variable" in str(exc) or "needs" in str(exc) or "flat repository" in str(exc), str(exc)
        return
    fields = names_of(out)
    expected = [f for f in ("Types", "URIs", "Suites", "Components", "Architectures", "Signed-By") if f in stanza
                and stanza[f] not in (None, [])]
    assert fields == [expected], out
    parsed = dict(deb822(out)[0])
    assert "Trusted" not in out and parsed["Signed-By"].startswith("/")
    if field != "Signed-By" and field in parsed:
        assert isinstance(stanza[field], list), "a string was taken where a list belongs"
        assert parsed[field].split(" ") == [str(v).strip() for v in stanza[field]], parsed  # each entry one word


@HYPOTHESIS
@given(selector=st.one_of(text, SMUGGLED), priority=st.one_of(st.integers(), text, st.booleans()))
def test_any_selector_or_priority_gives_one_pin_or_a_named_error(selector, priority):
    try:
        out = aps.preferences_file({"Package": "*", "Pin": selector, "Pin-Priority": priority},
                                   {"Pin": "nvidia_repo_pin_selector", "Pin-Priority": "the_priority"})
    except _values.ValueProblem as exc:
        assert "nvidia_repo_pin_selector" in str(exc) or "the_priority" in str(exc), str(exc)
        return
    assert names_of(out) == [["Package", "Pin", "Pin-Priority"]]
    # one Pin-Priority field (a selector may hold the words "Pin-Priority" as its value, never a line of its own)
    assert sum(line.startswith("Pin-Priority:") for line in out.splitlines()) == 1


# --- nvidia_repo: the role's variables -> the sources and the pin file ---------------------------------------------

SETTINGS = {
    "nvidia_repo_cuda_enabled": True, "nvidia_repo_cuda_base_url": "https://developer.download.nvidia.com/compute/cuda/repos",
    "nvidia_repo_cuda_key_fingerprint": "", "nvidia_repo_cuda_key_file": "",
    "nvidia_repo_toolkit_enabled": True, "nvidia_repo_toolkit_base_url": "https://nvidia.github.io/libnvidia-container",
    "nvidia_repo_toolkit_key_fingerprint": "C95B321B61E88C1809C4F759DDCAE044F796ECB0",
    "nvidia_repo_toolkit_experimental": False, "nvidia_repo_pin": "nvidia",
    "nvidia_repo_pin_selector": "release l=NVIDIA CUDA", "nvidia_repo_keyring_dir": "/etc/apt/keyrings",
    "nvidia_repo_distribution": "Debian", "nvidia_repo_distribution_version": "12.7",
    "nvidia_repo_architecture": "x86_64",
}


def test_nvidia_repo_files_are_exactly_the_fields_meant():
    out = nr.files({**SETTINGS, "nvidia_repo_toolkit_experimental": "true", "nvidia_repo_pin": "debian",
                    "nvidia_repo_cuda_base_url": "https://mirror.lab/cuda/repos/"})
    assert deb822(out["cuda_sources"]) == [[
        ("Types", "deb"), ("URIs", "https://mirror.lab/cuda/repos/debian12/x86_64/"), ("Suites", "/"),
        ("Signed-By", "/etc/apt/keyrings/nvidia-cuda.gpg")]]
    assert deb822(out["toolkit_sources"]) == [
        [("Types", "deb"), ("URIs", f"https://nvidia.github.io/libnvidia-container/{channel}/deb/$(ARCH)"),
         ("Suites", "/"), ("Signed-By", "/etc/apt/keyrings/nvidia-container-toolkit.gpg")]
        for channel in ("stable", "experimental")]
    assert deb822(out["pin"]) == [[("Package", "*"), ("Pin", "release l=NVIDIA CUDA"), ("Pin-Priority", "100")]]
    assert out["signing_keys"] == [
        {"name": "cuda", "url": "https://mirror.lab/cuda/repos/debian12/x86_64/3bf863cc.pub",
         "fingerprint": "EB693B3035CD5710E231E123A4B469963BF863CC", "keyring": "/etc/apt/keyrings/nvidia-cuda.gpg"},
        {"name": "toolkit", "url": "https://nvidia.github.io/libnvidia-container/gpgkey",
         "fingerprint": "C95B321B61E88C1809C4F759DDCAE044F796ECB0",
         "keyring": "/etc/apt/keyrings/nvidia-container-toolkit.gpg"}]
    assert "EB693B3035CD5710E231E123A4B469963BF863CC." in out["cuda_sources"]


def test_nvidia_repo_without_pin_or_cuda_writes_no_pin():
    assert nr.files({**SETTINGS, "nvidia_repo_pin": "none"})["pin"] == ""
    out = nr.files({**SETTINGS, "nvidia_repo_cuda_enabled": "false"})
    assert out["pin"] == out["cuda_sources"] == "" and [k["name"] for k in out["signing_keys"]] == ["toolkit"]


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("nvidia_repo_pin_selector", "release l=NVIDIA CUDA\nPin-Priority: 1001", "nvidia_repo_pin_selector must be a"),
    ("nvidia_repo_cuda_base_url", "https://m.lab/cuda\nTrusted: yes", "nvidia_repo_cuda_base_url must be a"),
    ("nvidia_repo_toolkit_base_url", "file:///srv/repo", "nvidia_repo_toolkit_base_url must be a URL"),
    ("nvidia_repo_keyring_dir", "/etc/apt/keyrings\nTrusted: yes", "nvidia_repo_keyring_dir must be a"),
    ("nvidia_repo_keyring_dir", "keyrings", "nvidia_repo_keyring_dir must be an absolute path"),
    ("nvidia_repo_cuda_key_fingerprint", "3BF863CC", "nvidia_repo_cuda_key_fingerprint: '3BF863CC' is not a key"),
    ("nvidia_repo_cuda_key_file", "../../x.pub", "nvidia_repo_cuda_key_file must be one word"),
    ("nvidia_repo_pin", "high", "nvidia_repo_pin must be nvidia, debian or none"),
    ("nvidia_repo_toolkit_experimental", "maybe", "nvidia_repo_toolkit_experimental must be true or false"),
    ("nvidia_repo_cuda_enabled", ["yes"], "nvidia_repo_cuda_enabled must be true or false"),
    ("nvidia_repo_architecture", "armv7l", "no tree for Debian 12.7 on armv7l"),
])
def test_nvidia_repo_bad_variables_are_named(key, value, needle):
    with pytest.raises(_values.ValueProblem) as caught:
        nr.files({**SETTINGS, key: value})
    assert needle in str(caught.value)


NVIDIA_TEXT_FIELDS = ["nvidia_repo_cuda_base_url", "nvidia_repo_toolkit_base_url", "nvidia_repo_cuda_key_fingerprint",
                      "nvidia_repo_cuda_key_file", "nvidia_repo_toolkit_key_fingerprint", "nvidia_repo_pin",
                      "nvidia_repo_pin_selector", "nvidia_repo_keyring_dir", "nvidia_repo_toolkit_experimental",
                      "nvidia_repo_cuda_enabled", "nvidia_repo_toolkit_enabled"]


@HYPOTHESIS
@given(key=st.sampled_from(NVIDIA_TEXT_FIELDS), value=hostile)
def test_any_nvidia_repo_variable_is_refused_by_name_or_gives_exactly_the_fields(key, value):
    try:
        out = nr.files({**SETTINGS, key: value})
    except _values.ValueProblem as exc:
        assert key in str(exc) or "no tree for" in str(exc), str(exc)
        return
    for name in ("cuda_sources", "toolkit_sources"):
        if out[name]:
            assert all(fields == SOURCE for fields in names_of(out[name])), out[name]
    if out["pin"]:
        assert names_of(out["pin"]) == [["Package", "Pin", "Pin-Priority"]]
    for key_ in out["signing_keys"]:
        assert _values.url(key_["url"], "url") == key_["url"] and len(key_["fingerprint"]) == 40


def test_nvidia_repo_filters_raise_filter_errors_with_the_sentence():
    filters = nr_filter.FilterModule().filters()
    with pytest.raises(AnsibleFilterError, match=r"^nvidia_repo_files: nvidia_repo_pin_selector must be a single"):
        filters["nvidia_repo_files"]({**SETTINGS, "nvidia_repo_pin_selector": "release a\nPin-Priority: 1"})
    for bad in (None, "text", ["a"], 5):
        with pytest.raises(AnsibleFilterError, match=r"^nvidia_repo_files"):
            filters["nvidia_repo_files"](bad)
    with pytest.raises(AnsibleFilterError, match=r"nvidia_repo_cuda_enabled must be true or false"):
        filters["nvidia_repo_target"]("Debian", "12", "x86_64", "maybe")
    assert filters["nvidia_repo_target"]("Debian", "12", "x86_64", "false")["tree"] == ""


# --- distro_mirror -------------------------------------------------------------------------------------------------

def test_distro_mirror_components_given_as_a_string_are_refused_not_spelled_out():
    with pytest.raises(dm.DistroMirrorError, match=r"^distro_mirror_components must be a list, not 'main'"):
        dm.distro_sources({"distribution": "Debian", "release": "bookworm"}, components="main")
    with pytest.raises(AnsibleFilterError, match=r"distro_mirror_components must be a list"):
        dm_filter.FilterModule().filters()["distro_sources"]({"distribution": "Debian", "release": "bookworm"},
                                                             "", "", "main contrib")


@HYPOTHESIS
@given(which=st.sampled_from(["mirror", "security_mirror", "components"]), value=hostile)
def test_any_distro_mirror_value_is_refused_by_name_or_gives_two_clean_stanzas(which, value):
    args = {"mirror": "", "security_mirror": "", "components": None, which: value}
    try:
        out = dm.distro_sources({"distribution": "Debian", "release": "bookworm"}, **args)
    except dm.DistroMirrorError as exc:
        assert dm.NAMES[which] in str(exc), str(exc)
        return
    assert names_of(out["content"]) == [SOURCE_WITH_COMPONENTS, SOURCE_WITH_COMPONENTS], out["content"]
    components = dict(deb822(out["content"])[0])["Components"].split()
    assert all(len(c) > 1 for c in components) or components == list(value or []), components


# --- the role templates, rendered with the collection's filters ----------------------------------------------------

def environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True)
    for module in (apt_filter, nr_filter):
        for name, fn in module.FilterModule().filters().items():
            env.filters[f"homelab.nvidia_gpu.{name}"] = fn
    return env


def render(template: str, **variables) -> str:
    source = (ROOT / "roles" / template).read_text()
    return environment().from_string(source).render(ansible_managed="Ansible managed", **variables)


NON_FREE = {"nvidia_driver_debian_mirror": "http://deb.debian.org/debian",
            "nvidia_driver_debian_security_mirror": "http://deb.debian.org/debian-security",
            "_nvidia_driver_debian_components": ["contrib", "non-free", "non-free-firmware"],
            "ansible_facts": {"distribution_release": "trixie"}}
TEMPLATES: dict = {}  # Docker's source is rendered by container_runtime_plan (tests/unit/plugins/action/)


def test_container_runtime_writes_dockers_source_with_exactly_its_fields():
    args = {"docker": True, "containerd": True, "install": True, "docker_source": "docker",
            "docker_repo_base_url": "https://download.docker.com/linux", "docker_repo_key_url": "",
            "docker_repo_key_fingerprint": "9DC858229FC7DD38854AE2D88D81803C0EBFCD88", "docker_repo_channel": "stable",
            "keyring_dir": "/etc/apt/keyrings", "docker_daemon_options": {}, "docker_daemon_config_path": "",
            "containerd_config_path": "", "containerd_systemd_cgroup": True, "containerd_cri": True,
            "containerd_sandbox_image": "", "containerd_settings": {}, "backup": False, "distribution": "Debian",
            "distribution_release": "bookworm", "architecture": "x86_64", "apt_knows_docker_cli": False}
    out = cr.plan(args)["docker_repo"]["sources"]
    assert deb822(out) == [[
        ("Types", "deb"), ("URIs", "https://download.docker.com/linux/debian"), ("Suites", "bookworm"),
        ("Components", "stable"), ("Architectures", "amd64"), ("Signed-By", "/etc/apt/keyrings/docker.gpg")]]
    assert out.startswith("# Ansible managed (homelab.nvidia_gpu.container_runtime)") and out.endswith("gpg\n")


def test_debian_non_free_template_renders_two_stanzas():
    out = render("nvidia_driver/templates/debian-non-free.sources.j2", **NON_FREE)
    components = ("Components", "contrib non-free non-free-firmware")
    keyring = ("Signed-By", "/usr/share/keyrings/debian-archive-keyring.gpg")
    assert deb822(out) == [
        [("Types", "deb"), ("URIs", "http://deb.debian.org/debian"), ("Suites", "trixie trixie-updates"), components,
         keyring],
        [("Types", "deb"), ("URIs", "http://deb.debian.org/debian-security"), ("Suites", "trixie-security"),
         components, keyring]]


@pytest.mark.parametrize("key", ["cuda_sources", "toolkit_sources", "pin"])
def test_nvidia_repo_writes_the_files_text_after_a_managed_comment(key):
    files = nr.files(SETTINGS)
    written = [f["content"] for f in nr.role_plan({k.removeprefix("nvidia_repo_"): v for k, v in SETTINGS.items()})[
        "write"]]
    assert "# Ansible managed (homelab.nvidia_gpu.nvidia_repo)\n" + files[key] in written


TEMPLATE_INPUTS = [
    ("nvidia_driver/templates/debian-non-free.sources.j2", NON_FREE, "nvidia_driver_debian_mirror",
     "nvidia_driver_debian_mirror"),
    ("nvidia_driver/templates/debian-non-free.sources.j2", NON_FREE, "nvidia_driver_debian_security_mirror",
     "nvidia_driver_debian_security_mirror"),
    ("nvidia_driver/templates/debian-non-free.sources.j2", NON_FREE, "_nvidia_driver_debian_components",
     "_nvidia_driver_debian_components"),
]


@HYPOTHESIS
@given(case=st.sampled_from(TEMPLATE_INPUTS), value=st.one_of(SMUGGLED, text, st.lists(text, max_size=3)),
       fingerprint=st.one_of(st.just("9DC858229FC7DD38854AE2D88D81803C0EBFCD88"), SMUGGLED))
def test_any_inventory_value_in_a_role_template_is_refused_by_name_or_stays_in_its_field(case, value, fingerprint):
    template, variables, variable, named = case
    variables = {**variables, variable: value, "_container_runtime_docker_key_fingerprint": fingerprint,
                 "_kernel_headers_raspberrypi_key_fingerprint": fingerprint}
    try:
        out = render(template, **variables)
    except AnsibleFilterError as exc:
        assert str(exc).startswith("apt_sources: ") and named in str(exc), str(exc)
        return
    _defaults, expected = TEMPLATES.get(template, (None, None))
    fields = names_of(out)
    if expected is not None:
        assert fields == [[f for f, _v in expected]], out
    else:
        assert fields == [SOURCE_WITH_COMPONENTS, SOURCE_WITH_COMPONENTS], out
    assert "Trusted" not in "".join(line for line in out.splitlines() if not line.startswith("#"))


@pytest.mark.parametrize("bad", [None, 5, "Types: deb", [None], [{"URIs": object()}], [[("Types", "deb")]]])
def test_the_filters_never_raise_a_raw_error(bad):
    filters = apt_filter.FilterModule().filters()
    with pytest.raises(AnsibleFilterError, match=r"^apt_sources"):
        filters["apt_sources"](bad)
    with pytest.raises(AnsibleFilterError, match=r"^apt_preferences"):
        filters["apt_preferences"](bad)
    with pytest.raises(AnsibleFilterError, match=r"^apt_sources"):
        filters["apt_sources"]([{"Types": ["deb"]}], names="not a mapping")
