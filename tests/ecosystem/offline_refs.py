"""Sphinx extension for the offline docs site (scripts/test.sh stage docs-site): no intersphinx.

antsibull-docs' pages refer to labels of docs.ansible.com (`ansible_collections.ansible.builtin.apt_module`,
`common_return_values`, ...), which only intersphinx resolves, and CI reaches no docs site. A reference to a
label outside this collection becomes a plain link to docs.ansible.com; a reference into this collection
(`ansible_collections.homelab.nvidia_gpu.*`) that does not resolve stays a warning, so -W fails the build.
"""

from __future__ import annotations

from docutils import nodes

OWN = "ansible_collections.homelab.nvidia_gpu."
DOCS = "https://docs.ansible.com/projects/ansible/latest/"


def external_url(target: str) -> str:
    if target.startswith("ansible_collections."):
        parts = target.removeprefix("ansible_collections.").split(".")
        if len(parts) == 3:  # namespace, collection, <plugin>_<type>
            return f"{DOCS}collections/{parts[0]}/{parts[1]}/{parts[2]}.html"
    return f"{DOCS}search.html?q={target}"


def missing_reference(app, env, node, contnode):  # Sphinx's event signature
    target = node.get("reftarget", "")
    if node.get("refdomain") != "std" or not target or target.startswith(OWN):
        return None
    ref = nodes.reference("", "", internal=False, refuri=external_url(target))
    ref.append(contnode)
    return ref


def setup(app):
    app.connect("missing-reference", missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
