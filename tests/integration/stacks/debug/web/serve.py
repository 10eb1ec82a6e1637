"""Run the service as a plain script (`python3 web/serve.py`): the `python script.py` form."""

import os
import sys

import uvicorn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if __name__ == "__main__":
    uvicorn.run("web.main:app", host="0.0.0.0", port=8000, log_level="info")
