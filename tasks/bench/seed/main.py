"""The bench's `seed` target: a reconstruction of the Python app SWFT re-implements.

The seed's stack, as its DOCKER.md describes it: FastAPI with Jinja2 templates and static
files, served by one uvicorn worker, the page rendered on every request. Its source is not in
this repository; this is the same page on the same stack, for `deno task bench --targets
start,seed`, which compares requests/s on `/` in one run (docs/bench.md). Not a way to run the
service.

Run: python3 -m uvicorn main:app --app-dir tasks/bench/seed --host 127.0.0.1 --port 8080
"""

import os
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

ROOT = Path(__file__).resolve().parents[3]
app = FastAPI()
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
app.mount("/static", StaticFiles(directory=str(ROOT / "static")), name="static")


@app.get("/", response_class=HTMLResponse)
async def index(request: Request):
    return templates.TemplateResponse("index.html", {
        "request": request,
        "message": os.environ.get("CUSTOM_MESSAGE", "SWFT Demo"),
        "hostname": os.environ.get("HOSTNAME", "local"),
    })


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.get("/time")
async def time():
    return {"time": datetime.now().strftime("%Y-%m-%d %H:%M:%S")}


@app.get("/theme.css")
async def theme():
    color = os.environ.get("BACKGROUND_COLOR", "white")
    return Response(f":root{{--bg:{color}}}\n", media_type="text/css")
