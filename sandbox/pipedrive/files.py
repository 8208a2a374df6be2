"""v1 files on persons: multipart upload, metadata, listing, download, delete.

Uploads need a `file` part and a link id (`person_id` here: the sandbox has no deals,
organizations, products, activities, leads or projects for files). Like the real API the
stored `file_name` gets a unique suffix while `name` keeps the visible original name.
The maximum upload size is undocumented, so it is a setting (`max_upload_bytes`); beyond
it the upload is refused with 413 rather than silently truncated. Delete marks the file
inactive; it then disappears from listings and downloads.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response, content_disposition
from sandbox.pipedrive import multipart
from sandbox.pipedrive.pagination import v1_page
from sandbox.pipedrive.responses import fail_v1, ok
from sandbox.pipedrive.v1input import as_int, read_body

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

LINKS = ("deal_id", "person_id", "org_id", "product_id", "activity_id", "lead_id", "project_id")
TYPES = {"img": {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".heic", ".tif", ".tiff"}, "pdf": {".pdf"},
         "doc": {".doc", ".docx", ".odt", ".rtf"}, "xls": {".xls", ".xlsx", ".ods", ".csv"},
         "ppt": {".ppt", ".pptx", ".odp"}, "txt": {".txt"}}


def register(app: PipedriveApp) -> None:
    app.v1("GET", "/files", lambda r: list_files(app, r, None))
    app.v1("POST", "/files", lambda r: upload(app, r))
    app.v1("GET", "/files/{id}", lambda r: ok(load(app, r)))
    app.v1("PUT", "/files/{id}", lambda r: update(app, r))
    app.v1("DELETE", "/files/{id}", lambda r: delete(app, r))
    app.v1("GET", "/files/{id}/download", lambda r: download(app, r))
    app.v1("GET", "/persons/{id}/files", lambda r: list_files(app, r, r.params["id"]))


def load(app: PipedriveApp, request: Request) -> dict[str, Any]:
    file_id = as_int(request.params["id"], "id")
    item = app.repo.get("file", file_id) if file_id is not None else None
    if item is None or not item["active_flag"]:
        raise fail_v1("File not found", 404)
    return item


def file_type(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return next((kind for kind, suffixes in TYPES.items() if suffix in suffixes), "other")


def upload(app: PipedriveApp, request: Request) -> Response:
    if len(request.body) > app.config.max_upload_bytes + 64 * 1024:
        raise fail_v1(f"File is too large (limit {app.config.max_upload_bytes} bytes)", 413)
    try:
        parts = multipart.parse(request.header("Content-Type") or "", request.body)
    except multipart.MultipartError as exc:
        raise fail_v1(f"Bad request: {exc}") from None
    form = {p.name: p for p in parts}
    upload_part = form.get("file")
    if upload_part is None or upload_part.filename is None:
        raise fail_v1("No file was uploaded (multipart field 'file' is required)")
    if len(upload_part.data) > app.config.max_upload_bytes:
        raise fail_v1(f"File is too large (limit {app.config.max_upload_bytes} bytes)", 413)
    links = {k: form[k].data.decode("utf-8", "replace").strip() for k in LINKS if k in form}
    for key, value in links.items():
        if key != "person_id" and value:
            raise fail_v1(f"{key.replace('_id', '').title()} not found", 404)
    person_id = as_int(links.get("person_id"), "person_id")
    if person_id is None:
        raise fail_v1("One of deal_id, person_id, org_id, product_id, activity_id, lead_id or project_id is required")
    person = app.repo.get("person", person_id)
    if person is None or person["is_deleted"]:
        raise fail_v1("Person not found", 404)
    file_id = app.repo.next_id("file")
    original = PurePosixPath(upload_part.filename.replace("\\", "/")).name or "file"
    digest = hashlib.sha256(upload_part.data).hexdigest()
    stem, suffix = PurePosixPath(original).stem, PurePosixPath(original).suffix
    now = app.clock.v1()
    content_type = upload_part.content_type or mimetypes.guess_type(original)[0] or "application/octet-stream"
    item = {
        "id": file_id, "user_id": app.current_user_id(request), "deal_id": None, "person_id": person_id,
        "org_id": None, "product_id": None, "activity_id": None, "lead_id": None, "project_id": None,
        "log_id": None, "add_time": now, "update_time": now, "file_name": f"{stem}_{digest[:24]}{suffix}",
        "file_type": file_type(original), "file_size": len(upload_part.data), "active_flag": True,
        "inline_flag": False, "remote_location": "s3", "remote_id": None, "cid": "", "s3_bucket": "",
        "mail_message_id": "", "mail_template_id": "", "deal_name": "", "person_name": person["name"],
        "org_name": "", "product_name": "", "lead_name": "", "project_name": "",
        "url": f"{request.host_url}/v1/files/{file_id}/download", "name": original, "description": "",
    }
    app.store.put_blob(f"file:{file_id}", upload_part.data, content_type)
    app.repo.put("file", item, {"sha256": digest, "content_type": content_type})
    return ok(item)


def update(app: PipedriveApp, request: Request) -> Response:
    item = load(app, request)
    body = read_body(request)
    for key in ("name", "description"):
        if key in body:
            if not isinstance(body[key], str):
                raise fail_v1(f"{key} must be a string")
            item[key] = body[key]
    item["update_time"] = app.clock.v1()
    app.repo.put("file", item, app.store.get("file", item["id"])[1])  # type: ignore[index]
    return ok(item)


def delete(app: PipedriveApp, request: Request) -> Response:
    item = load(app, request)
    item["active_flag"] = False
    item["update_time"] = app.clock.v1()
    app.repo.put("file", item, app.store.get("file", item["id"])[1])  # type: ignore[index]
    return ok({"id": item["id"]})


def download(app: PipedriveApp, request: Request) -> Response:
    item = load(app, request)
    blob = app.store.get_blob(f"file:{item['id']}")
    if blob is None:
        raise fail_v1("File not found", 404)
    data, _ = blob
    # the spec documents application/octet-stream for every download, whatever the file type
    return Response(200, data, {"Content-Type": "application/octet-stream",
                                "Content-Disposition": content_disposition(item["name"])})


def list_files(app: PipedriveApp, request: Request, person_id: str | None) -> Response:
    where = "json_extract(body, '$.active_flag') = 1"
    params: tuple[Any, ...] = ()
    if person_id is not None:
        pid = as_int(person_id, "id")
        if pid is None or app.repo.get("person", pid) is None:
            raise fail_v1("Person not found", 404)
        where += " AND json_extract(body, '$.person_id') = ?"
        params = (pid,)
    sort = (request.arg("sort") or "id ASC").split()
    if sort[0] not in ("id", "update_time") or (len(sort) > 1 and sort[1].upper() not in ("ASC", "DESC")):
        raise fail_v1("Invalid sort")
    column = "id" if sort[0] == "id" else "json_extract(body, '$.update_time')"
    order = f"{column} {sort[1].upper() if len(sort) > 1 else 'ASC'}, id ASC"
    items, extra = v1_page(app.repo.all("file", where, params, order), request, max_limit=100)
    return ok(items or None, extra)
