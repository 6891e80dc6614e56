"""Media on channels and bridges: playbacks, live recordings, music on hold.

pbxsim plays and records no audio: a playback lasts as long as its sound would, a
recording as long as it is left running. Bridge playbacks and recordings run on hidden
Announcer/Recorder channels that count as members (notes GENERAL), and their events reach
a subscribeAll socket twice (surprise 18).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from pbxsim.model import AriError, Bridge, Channel, LiveRecording, Playback
from pbxsim.params import int_or
from pbxsim.parties import BEEP_SECONDS, GREETING_SECONDS, HELLO_SECONDS
from pbxsim.state import PbxState

#: how long known sounds play (the lab's generated tones)
SOUND_SECONDS = {
    "lab/hello": HELLO_SECONDS,
    "lab/beep": BEEP_SECONDS,
    "lab/machine-greeting": GREETING_SECONDS,
    "lab/fax-ced": 3.0,
    "beep": BEEP_SECONDS,
    "silence/1": 1.0,
}
RECORDING_FORMATS = ("wav", "gsm", "ulaw", "alaw", "sln", "g722", "wav49")
#: a recording in these states keeps its channel out of bridges (its add rule)
RECORDING_LIVE = ("queued", "recording", "paused")
#: recording ops that need a started recording ("Recording not in session" before)
SESSION_OPS = ("pause", "unpause", "mute", "unmute")


def media_owner(pbx: PbxState, target_kind: str, target_id: str) -> Channel | Bridge:
    """The channel (in Stasis) or bridge a playback or recording is for."""
    if target_kind == "channel":
        c = pbx.get_channel(target_id)
        if c.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        return c
    return pbx.get_bridge(target_id)


class Playbacks:
    """/playbacks and the play requests of channels and bridges."""

    def __init__(self, pbx: PbxState) -> None:
        self.pbx = pbx

    def play(self, target_kind: str, target_id: str, media: list[str], pid: str | None,
             lang: str | None) -> Playback:
        if not media:
            raise AriError(400, "Missing parameter media")
        owner = media_owner(self.pbx, target_kind, target_id)
        pb = Playback(id=pid or str(uuid.uuid4()), media=media,
                      target_uri=f"{target_kind}:{target_id}", language=lang or "en", owner=owner)
        self.pbx.playbacks.setdefault(pb.id, []).append(pb)
        owner.playbacks.append(pb)
        self.pbx.spawn(self._run(owner, pb))
        return pb

    async def _run(self, owner: Channel | Bridge, pb: Playback) -> None:
        # playbacks on one target play one after the other
        while owner.playbacks and owner.playbacks[0] is not pb:
            if pb.state != "queued":
                return
            await asyncio.sleep(self.pbx.clock.real(0.01))
        if pb.state != "queued":
            return
        if isinstance(owner, Bridge) and not any(h.startswith("Announcer/ARI-")
                                                 for h in owner.hidden):
            # bridge playbacks run on one hidden Announcer channel (notes GENERAL)
            owner.hidden.append(f"Announcer/ARI-{self.pbx.next_seq()};2")
            self.pbx.helpers_changed(owner)
        try:
            await self._play_items(owner, pb)
        finally:
            if isinstance(owner, Bridge) and not owner.destroyed and not owner.playbacks:
                owner.hidden = [h for h in owner.hidden if not h.startswith("Announcer/ARI-")]
                self.pbx.helpers_changed(owner)

    async def _play_items(self, owner: Channel | Bridge, pb: Playback) -> None:
        while pb.index < len(pb.media):
            uri = pb.media[pb.index]
            pb.state = "playing"
            self._event("PlaybackStarted", owner, pb)
            scheme, _, rest = uri.partition(":")
            duration: float | None
            if scheme == "sound":
                duration = SOUND_SECONDS.get(rest)
                if duration is None:
                    # missing sound file: fails at once (playback trace: sound:hello-world)
                    await asyncio.sleep(self.pbx.clock.real(0.001))
                    self.finish(pb, "failed")
                    return
            elif scheme == "tone":
                duration = None
            elif scheme == "silence":
                duration = float(rest or 1)
            elif scheme in ("digits", "characters", "number"):
                duration = 0.5 * max(1, len(rest))
            elif scheme == "recording":
                duration = 2.0
            else:
                # unsupported scheme: PlaybackStarted, never Finished, gone (errors trace)
                self._forget(pb)
                if pb in owner.playbacks:
                    owner.playbacks.remove(pb)
                return
            pb.stop.clear()
            if duration is None:
                await pb.stop.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pb.stop.wait(), self.pbx.clock.real(duration))
            if pb.state in ("done", "failed", "canceled"):
                return
            if pb.stop.is_set():
                self.finish(pb, "done")
                return
            if pb.index + 1 < len(pb.media):
                pb.state = "continuing"
                self._event("PlaybackContinuing", owner, pb)
                pb.index += 1
                continue
            self.finish(pb, "done")
            return

    def _event(self, kind: str, owner: Channel | Bridge, pb: Playback) -> None:
        is_bridge = isinstance(owner, Bridge)
        self.pbx.emit(kind, channel=owner if isinstance(owner, Channel) else None,
                      bridge=owner if isinstance(owner, Bridge) else None,
                      data={"playback": pb.ari()}, ami=False, dup_for_all=is_bridge)

    def finish(self, pb: Playback, state: str) -> None:
        """End a playback ("done" when stopped, "failed" when its channel hung up)."""
        if pb.state in ("done", "failed"):
            return
        owner = pb.owner
        was_playing = pb.state in ("playing", "paused")
        pb.state = state
        pb.stop.set()
        self._forget(pb)
        if owner is not None and pb in owner.playbacks:
            owner.playbacks.remove(pb)
        if was_playing and owner is not None:
            self._event("PlaybackFinished", owner, pb)
        elif was_playing:
            self.pbx.emit("PlaybackFinished", data={"playback": pb.ari()}, ami=False)

    def _forget(self, pb: Playback) -> None:
        same = self.pbx.playbacks.get(pb.id, [])
        if pb in same:
            same.remove(pb)
        if not same:
            self.pbx.playbacks.pop(pb.id, None)

    def get(self, pid: str) -> Playback:
        same = self.pbx.playbacks.get(pid)
        if not same:
            raise AriError(404, "Playback not found")
        return same[0]

    def stop(self, pid: str) -> None:
        pb = self.get(pid)
        if pb.state == "queued":
            pb.state = "done"
            self._forget(pb)
            if pb.owner is not None and pb in pb.owner.playbacks:
                pb.owner.playbacks.remove(pb)
            return
        # a stopped playback ends "done" (notes 3)
        pb.stop.set()

    def control(self, pid: str, operation: str | None) -> None:
        pb = self.get(pid)
        if operation not in ("restart", "pause", "unpause", "reverse", "forward"):
            raise AriError(400, "Invalid operation")
        if pb.state == "queued":
            raise AriError(409, "Playback not currently playing")
        if operation == "pause":
            pb.state = "paused"
        elif operation == "unpause" and pb.state == "paused":
            pb.state = "playing"
            if pb.owner is not None:
                self._event("PlaybackStarted", pb.owner, pb)


class Recordings:
    """/recordings/live and the record requests of channels and bridges."""

    def __init__(self, pbx: PbxState) -> None:
        self.pbx = pbx

    def record(self, target_kind: str, target_id: str, p: dict[str, Any]) -> LiveRecording:
        """POST /channels/{id}/record and /bridges/{id}/record, checked in Asterisk's
        order (resource_channels.c, resource_bridges.c, res_stasis_recording.c)."""
        name = str(p.get("name") or "")
        fmt = str(p.get("format") or "")
        max_duration = int_or(p.get("maxDurationSeconds"), 0) or 0
        max_silence = int_or(p.get("maxSilenceSeconds"), 0) or 0
        if target_kind == "channel":
            if max_duration < 0:
                raise AriError(400, "max_duration_seconds cannot be negative")
            if max_silence < 0:
                raise AriError(400, "max_silence_seconds cannot be negative")
            owner = media_owner(self.pbx, target_kind, target_id)
            _check_record_options(p)
            if fmt not in RECORDING_FORMATS:
                raise AriError(422, "specified format is unknown on this system")
        else:
            owner = media_owner(self.pbx, target_kind, target_id)
            if fmt not in RECORDING_FORMATS:
                raise AriError(422, "specified format is unknown on this system")
            _check_record_options(p)
        if not name or max_duration < 0 or max_silence < 0:
            # stasis_app_control_record's EINVAL, "caught before" in theory only
            raise AriError(500, "Error parsing request")
        if_exists = str(p.get("ifExists") or "fail").lower()
        if name in self.pbx.stored_recordings and if_exists == "fail":
            raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
        if name in self.pbx.live_recordings:
            raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
        if self.pbx.recording_refused(name):
            # what Asterisk 22 answers when it cannot open the file (ast_writefile fails)
            raise AriError(500, "Internal Server Error")
        rec = LiveRecording(name=name, format=fmt, target_uri=f"{target_kind}:{target_id}")
        rec.max_duration = float(max_duration) if max_duration else None
        rec.fail_cause = self.pbx.recording_failure(name)
        rec.owner = owner
        self.pbx.live_recordings[name] = rec
        owner.recordings.append(rec)
        self.pbx.spawn(self._run(owner, rec))
        return rec

    async def _run(self, owner: Channel | Bridge, rec: LiveRecording) -> None:
        await asyncio.sleep(self.pbx.clock.real(0.01))
        while isinstance(owner, Channel) and owner.recordings and owner.recordings[0] is not rec:
            # the channel's control thread records one at a time: the next one waits
            # in its command queue (a bridge gets one Recorder channel per recording)
            if rec.state != "queued":
                return
            await asyncio.sleep(self.pbx.clock.real(0.01))
        if isinstance(owner, Channel) and owner.bridge is not None and rec.state == "queued":
            # recording a bridged channel fails after 201 (surprise 20)
            await self.pbx.clock.sleep(0.5)
            self._fail(owner, rec, "Cannot record channel while in bridge")
            return
        if rec.fail_cause is not None and rec.state == "queued":
            # told to fail (control endpoint): as Asterisk fails one, before it starts
            self._fail(owner, rec, rec.fail_cause)
            return
        if rec.state != "queued":
            return
        rec.state = "recording"
        rec.started_at = self.pbx.clock.now()
        if isinstance(owner, Bridge):
            rec.helper = f"Recorder/ARI-{self.pbx.next_seq()};2"
            owner.hidden.append(rec.helper)
            self.pbx.helpers_changed(owner)
        self._event("RecordingStarted", owner, rec)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                rec.stop.wait(),
                None if rec.max_duration is None else self.pbx.clock.real(rec.max_duration + 0.9),
            )
        self.finish(rec, "done")

    def _event(self, kind: str, owner: Channel | Bridge, rec: LiveRecording) -> None:
        is_bridge = isinstance(owner, Bridge)
        self.pbx.emit(kind, channel=owner if isinstance(owner, Channel) else None,
                      bridge=owner if isinstance(owner, Bridge) else None,
                      data={"recording": rec.ari()}, ami=False, dup_for_all=is_bridge)

    def _fail(self, owner: Channel | Bridge, rec: LiveRecording, cause: str) -> None:
        """RecordingFailed after the 201: the recording is gone, nothing is stored."""
        if rec.state != "queued":
            return
        rec.state = "failed"
        rec.cause = cause
        if self.pbx.live_recordings.get(rec.name) is rec:
            del self.pbx.live_recordings[rec.name]
        if rec in owner.recordings:
            owner.recordings.remove(rec)
        self._event("RecordingFailed", owner, rec)

    def finish(self, rec: LiveRecording, state: str) -> None:
        """End a recording: "done" keeps it as a stored recording, "canceled" deletes it.

        Either way the event says "done": a canceled recording's record_file still ends
        by setting COMPLETE (res_stasis_recording.c), after its file was deleted."""
        if rec.state in ("done", "failed", "canceled"):
            return
        # the owner, even a bridge being destroyed (no longer listed) or a channel torn
        # down: its RecordingFinished still goes out
        owner: Channel | Bridge | None = rec.owner
        was = rec.state
        now = self.pbx.clock.now()
        if rec.paused_at is not None:
            rec.paused_total += now - rec.paused_at
            rec.paused_at = None
        rec.state = state
        rec.stop.set()
        if self.pbx.live_recordings.get(rec.name) is rec:
            del self.pbx.live_recordings[rec.name]
        if owner is not None:
            if rec in owner.recordings:
                owner.recordings.remove(rec)
            if isinstance(owner, Bridge) and rec.helper in owner.hidden:
                owner.hidden.remove(rec.helper)
                self.pbx.helpers_changed(owner)
        if was in ("recording", "paused"):
            dur = now - rec.started_at - rec.paused_total
            if rec.max_duration is not None:
                dur = min(dur, rec.max_duration)
            rec.duration = max(0, int(dur))
            if state == "done":
                self.pbx.stored_recordings[rec.name] = {"name": rec.name, "format": rec.format}
                self.pbx.stored_durations[rec.name] = float(rec.duration)
            rec.state = "done"
            if owner is not None:
                self._event("RecordingFinished", owner, rec)
        rec.state = state

    def get_live(self, name: str) -> LiveRecording:
        rec = self.pbx.live_recordings.get(name)
        if rec is None:
            raise AriError(404, "Recording not found")
        return rec

    def operate(self, name: str, op: str) -> None:
        """stop, cancel, pause, unpause, mute or unmute a live recording."""
        rec = self.get_live(name)
        now = self.pbx.clock.now()
        if op in SESSION_OPS and rec.state == "queued":
            # no operation for a recording that has not started (the operations table)
            raise AriError(409, "Recording not in session")
        if op == "stop":
            rec.stop.set()
            self.finish(rec, "done")
        elif op == "cancel":
            self.finish(rec, "canceled")
            self.pbx.stored_recordings.pop(name, None)
        elif op == "pause":
            if rec.paused_at is None:
                rec.paused_at = now
                rec.state = "paused"
        elif op == "unpause":
            if rec.paused_at is not None:
                rec.paused_total += now - rec.paused_at
                rec.paused_at = None
                rec.state = "recording"
        elif op == "mute":
            rec.muted = True
        elif op == "unmute":
            rec.muted = False


def _check_record_options(p: dict[str, Any]) -> None:
    """terminateOn and ifExists, as stasis_app_recording_*_parse read them."""
    term = str(p.get("terminateOn") or "none").lower()
    if term not in ("none", "any", "#", "*"):
        raise AriError(400, "terminateOn invalid")
    if_exists = str(p.get("ifExists") or "fail").lower()
    if if_exists not in ("fail", "overwrite", "append"):
        raise AriError(400, "ifExists invalid")


class MusicOnHold:
    """Hold and channel MOH: no ARI events, AMI MusicOnHoldStart/Stop only (9, 24)."""

    def __init__(self, pbx: PbxState) -> None:
        self.pbx = pbx

    def hold(self, cid: str, on: bool) -> None:
        c = self.pbx.stasis_channel(cid)
        # hold on a Local channel = MOH class default on ;1, AMI only (surprise 9, 24)
        self._moh(c, on, "default", hold=True)

    def moh(self, cid: str, on: bool, moh_class: str | None) -> None:
        c = self.pbx.stasis_channel(cid)
        self._moh(c, on, moh_class or "default", hold=False)

    def _moh(self, c: Channel, on: bool, moh_class: str, hold: bool) -> None:
        playing = c.moh or c.holding
        if on:
            if hold:
                c.holding = True
            else:
                c.moh = True
            if not playing:
                # an unknown class falls back to default (surprise 24)
                self.pbx.emit("MusicOnHoldStart", channel=c, data={"class": "default"}, ari=False)
        else:
            if hold:
                if not c.holding:
                    return
                c.holding = False
                if playing and not c.moh:
                    self.pbx.emit("MusicOnHoldStop", channel=c, ari=False)
            else:
                # DELETE moh stops the MOH of a hold too (notes 11)
                if playing:
                    c.moh = c.holding = False
                    self.pbx.emit("MusicOnHoldStop", channel=c, ari=False)
