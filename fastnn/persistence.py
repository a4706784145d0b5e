"""Model files that load without running code: :func:`~fastnn.persistence.save` and :func:`~fastnn.persistence.load`.

A fastnn model file is a `skops <https://skops.readthedocs.io>`_ file (a zip
archive: ``schema.json`` describing the object tree, one ``.npy`` entry per
array) plus one entry of fastnn's own, ``fastnn.json``, holding the file
format version and the fastnn version that wrote it. What skops writes is plain
data: the estimators' hyper-parameters and fitted attributes, the fitted
network as its layer sizes, activation names, loss (with its parameter) and
flat parameter array (rebuilt on load, see :class:`fastnn._model.FittedModel`),
the learning-rate schedule and optimizer state of the stochastic solvers
(:class:`fastnn._schedule.Schedule`), and the callbacks of
:mod:`fastnn.callbacks` with their state (numbers, strings and the
parameters :class:`~fastnn.callbacks.EarlyStopping` keeps), so ``warm_start``
and ``partial_fit`` continue exactly.

:func:`~fastnn.persistence.load` never unpickles. It reads ``fastnn.json`` first, then lets skops
audit the object tree before anything is built: only :data:`TRUSTED_TYPES`
(fastnn's own classes that occur in a saved estimator, listed one by one) and
the types skops trusts by default (builtins, numpy arrays, scikit-learn's
estimators such as ``Pipeline``) may be constructed. skops is an optional
dependency: ``pip install fastnn[persist]``.

Files of format version 1 hold the same state under other class paths
(:data:`RENAMED_TYPES`); :func:`~fastnn.persistence.load` reads them by mapping those paths to
this version's classes before skops audits the tree.
"""

import io
import json
import os
import uuid
import zipfile

from fastnn._model import FittedModel
from fastnn._schedule import Schedule
from fastnn._version import __version__
from fastnn.callbacks import CosineDecay, EarlyStopping, ReduceLROnPlateau
from fastnn.linear_model import LinearRegression, LogisticRegression
from fastnn.neural_network import MLPClassifier, MLPRegressor
from fastnn.optimizers import SGD, Adam

__all__ = ["save", "load", "ModelFileError", "FORMAT_VERSION", "TRUSTED_TYPES",
           "RENAMED_TYPES"]

#: Version of the file layout this fastnn writes; :func:`~fastnn.persistence.load` reads files of
#: this version and older. Bump it when the saved state changes incompatibly.
FORMAT_VERSION = 2

#: fastnn's classes that a saved estimator holds, the only fastnn types
#: :func:`~fastnn.persistence.load` constructs (besides the types skops trusts by default). Named
#: one by one, no wildcard: a new class must be added here deliberately, once
#: its state is plain data that is checked on load.
TRUSTED_TYPES = (MLPClassifier, MLPRegressor, LinearRegression, LogisticRegression,
                 FittedModel, Schedule, SGD, Adam, CosineDecay, ReduceLROnPlateau,
                 EarlyStopping)

#: ``(module, class)`` in files of format version 1 -> the class that reads
#: that state in this version (same state, another path).
RENAMED_TYPES = {
    ("fastnn._base", "_Model"): FittedModel,
    ("fastnn._fitting", "_Schedule"): Schedule,
}

_METADATA_ENTRY = "fastnn.json"
_FORMAT_NAME = "fastnn model"


class ModelFileError(ValueError):
    """A file :func:`~fastnn.persistence.load` refuses.

    The file is incomplete or corrupted, is not a fastnn model, was written by
    a newer fastnn, or holds types it does not trust. A ``ValueError``, so
    code that catches scikit-learn's errors catches it too.
    """


def _skops_io():
    # Imported on use: skops is an optional dependency, `import fastnn` must not need it.
    try:
        import skops.io
    except ImportError as error:
        raise ImportError("fastnn.save and fastnn.load need skops, which is not installed: "
                          "pip install fastnn[persist]") from error
    return skops.io


def _type_names(types):
    return sorted(f"{t.__module__}.{t.__qualname__}" for t in types)


def _untrusted(sio, data):
    """Types in the skops bytes ``data`` that :func:`~fastnn.persistence.load` would refuse."""
    return sorted(set(sio.get_untrusted_types(data=data)) - set(_type_names(TRUSTED_TYPES)))


def save(estimator, path):
    """Write an estimator to a model file that :func:`~fastnn.persistence.load` reads without running code.

    Parameters
    ----------
    estimator : estimator
        A fastnn estimator (``MLPClassifier``, ``MLPRegressor``,
        ``LinearRegression``, ``LogisticRegression``), fitted or not, or a
        scikit-learn estimator holding them, such as a ``Pipeline``. Everything
        in it must be of a type :func:`~fastnn.persistence.load` trusts: fastnn's estimators,
        scikit-learn's estimators, numpy arrays and random states, builtins. A
        ``callbacks=`` function, for instance, is code and is refused.
    path : str or os.PathLike
        The file to write (``.skops`` is the customary extension). It is
        replaced in one step once the whole file is ready: a failed save
        leaves an existing file untouched.

    Raises
    ------
    ImportError
        When skops is not installed (``pip install fastnn[persist]``).
    TypeError
        When ``estimator`` holds types that :func:`~fastnn.persistence.load` would refuse; nothing
        is written. The message names them.

    See Also
    --------
    load : Read the file back.
    """
    sio = _skops_io()
    data = sio.dumps(estimator)
    refused = _untrusted(sio, data)
    if refused:
        raise TypeError(
            f"cannot save {type(estimator).__name__}: it holds objects of types that "
            f"fastnn.load does not trust, {refused} (functions are code; set "
            "callbacks=None before saving). Nothing was written.")
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(_METADATA_ENTRY, json.dumps({
            "format": _FORMAT_NAME, "format_version": FORMAT_VERSION,
            "fastnn_version": __version__}))
    path = os.path.abspath(os.fspath(path))
    # Write next to the target, then rename over it: the old file survives any
    # failure. os.open with mode 0o666 gives the file the usual umask permissions.
    temporary = os.path.join(os.path.dirname(path),
                             f".{os.path.basename(path)}.{uuid.uuid4().hex}.partial")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(buffer.getbuffer())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _check_metadata(archive, path):
    try:
        metadata = json.loads(archive.read(_METADATA_ENTRY))
    except KeyError:
        raise ModelFileError(
            f"{path} is not a fastnn model file: it has no {_METADATA_ENTRY} entry (a "
            "file written by skops.io.dump loads with skops.io.load).") from None
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT_NAME:
        raise ModelFileError(f"{path} is not a fastnn model file: its {_METADATA_ENTRY} "
                             "does not describe a fastnn model.")
    version = metadata.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path} is not a complete fastnn model file: invalid format "
                             f"version {version!r}.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by fastnn {metadata.get('fastnn_version', '(unknown)')} "
            f"in model format version {version}; this fastnn {__version__} reads "
            f"format versions up to {FORMAT_VERSION}. Upgrade fastnn to load it.")


def _renamed_schema(schema):
    """The skops schema ``schema`` with :data:`RENAMED_TYPES` mapped (format 1)."""
    if isinstance(schema, list):
        return [_renamed_schema(node) for node in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _renamed_schema(value) for key, value in schema.items()}
    target = RENAMED_TYPES.get((schema.get("__module__"), schema.get("__class__")))
    if target is not None:
        schema.update(__module__=target.__module__, __class__=target.__qualname__)
    return schema


def _upgraded(data, archive):
    """The bytes of a model file of an older format, rewritten as this format's."""
    if json.loads(archive.read(_METADATA_ENTRY))["format_version"] == FORMAT_VERSION:
        return data
    schema = _renamed_schema(json.loads(archive.read("schema.json")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as upgraded:
        for entry in archive.infolist():
            content = (json.dumps(schema) if entry.filename == "schema.json"
                       else archive.read(entry.filename))
            upgraded.writestr(entry, content)
    return buffer.getvalue()


def load(path):
    """Read a model file written by :func:`~fastnn.persistence.save`, constructing only trusted types.

    Nothing in the file is executed and nothing is unpickled: skops checks every
    type the file names before building any object, and the fitted network is
    rebuilt from its plain description (layer sizes, activation names, loss,
    parameters), which is checked.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`~fastnn.persistence.save`.

    Returns
    -------
    estimator : estimator
        The saved estimator: same predictions, bit for bit, and ``warm_start``
        and ``partial_fit`` continue from it as from the original.

    Raises
    ------
    ImportError
        When skops is not installed (``pip install fastnn[persist]``).
    ModelFileError
        When the file is truncated or corrupted, is not a fastnn model file,
        was written in a newer format version (the message names both
        versions), or names a type other than fastnn's :data:`TRUSTED_TYPES`
        and the ones skops trusts by default (the message names it).
    OSError
        When the file cannot be read.

    See Also
    --------
    save : Write the file.

    Notes
    -----
    A file holding further types you have reviewed and trust (your own
    transformer in a pipeline, say) loads with ``skops.io.load(path,
    trusted=[...])``; fastnn's entry in the file does not hinder it.
    """
    sio = _skops_io()
    with open(path, "rb") as file:
        data = file.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_metadata(archive, path)
            data = _upgraded(data, archive)
        return sio.loads(data, trusted=list(TRUSTED_TYPES))
    except ModelFileError:
        raise
    except sio.exceptions.UntrustedTypesFoundException:
        raise ModelFileError(
            f"refusing to load {path}: it names types that fastnn.load does not trust, "
            f"{_untrusted(sio, data)}. It trusts fastnn's own estimators and the "
            "types skops trusts by default; nothing in the file was run.") from None
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError,
            EOFError, RecursionError) as error:
        # A truncated file has no zip directory; a flipped byte fails a CRC; a
        # hand-edited schema lacks keys or holds values of the wrong kind, which
        # skops's node constructors and FittedModel's checks report as these.
        raise ModelFileError(f"{path} is not a complete fastnn model file "
                             f"({type(error).__name__}: {error}).") from error
