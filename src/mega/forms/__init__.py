"""Forms and uploads: `await req.form()`, its limits, and the uploaded files (docs/reference/forms.md)."""

from mega.forms._files import UploadedFile, sanitize_filename
from mega.forms._form import Form, FormValue
from mega.forms._settings import FormLimits

__all__ = ["Form", "FormLimits", "FormValue", "UploadedFile", "sanitize_filename"]
