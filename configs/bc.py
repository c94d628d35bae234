"""Behavioral cloning from expert demonstrations.

  python -m experiments.train --config=configs/bc.py:reach --workdir=/tmp/bc_reach

Args after the colon: a task or a named preset (`PRESETS` below: image policies, heads),
then optional `image` (the policy sees 32x32 camera frames instead of the state:
`image_policy` below) and `debug` (tiny and fast, for smoke tests), e.g.
`configs/bc.py:push_image` or `configs/bc.py:obstacle_flow,image`.
Without `--config.data.path`, the run first collects `collect.num_episodes` expert
demonstrations into WORKDIR/demos (and reuses them when restarted).
"""

import ml_collections

from configs import common


def image_policy(config: ml_collections.ConfigDict) -> None:
  """BC from the image alone, sized for a CPU: 32x32 pixels, a 16-channel CNN, keypoints.

  Spatial-softmax pooling keeps where the arm, puck and goal are, which global average
  pooling throws away; `--config.network.encoder=vit` swaps in the ViT. A frame stack shows
  motion: the experts act on velocities, which one frame does not show. Why each setting:
  docs/policies.md, "BC from images alone".
  """
  config.env.kwargs.image_size = 32
  config.env.frame_stack = 2
  config.network.encoder = 'cnn'
  config.network.use_state = False
  config.network.cnn = dict(channels=(16, 16, 16), hidden_sizes=(256, 256),
                            pooling='spatial_softmax', group_norm=True,
                            learn_temperature=False, strides=(1, 2, 2))
  config.network.vit = dict(patch_size=4, width=64, depth=2, num_heads=4)
  config.train.batch_size = 64
  # At 32 pixels a shift of a few pixels is a large fraction of the scene (docs/policies.md).
  config.augment.random_shift_pad = 0
  # XLA:CPU convolutions are ~20x slower inside a loop: unroll short chunks instead.
  config.train.steps_per_call = 10
  config.train.scan_unroll = 10
  config.train.eval_every = 10_000  # closed-loop image rollouts are the slow part on CPU
  config.train.checkpoint_every = 10_000


def _push_image(config: ml_collections.ConfigDict) -> None:
  """Push from 2 stacked frames: a mixture head and 4,096 demos.

  The expert's action switches (go round the puck on the side it is on, or push once lined
  up), and near a switch an MSE head averages the two; a mixture head picks one.
  """
  image_policy(config)
  config.network.head = 'mixture'
  config.collect.num_episodes = 4096
  config.train.num_steps = 40_000


def _reach_image(config: ml_collections.ConfigDict) -> None:
  """Reach from 3 stacked frames with a full-resolution keypoint map.

  The arm is one pixel wide at 32x32, so stride 1 keeps it in the keypoint map and a learned
  softmax temperature sharpens it; batch 256 (docs/policies.md, "BC from images alone").
  """
  image_policy(config)
  config.env.frame_stack = 3
  config.network.cnn.strides = (1, 1, 1)
  config.network.cnn.learn_temperature = True
  config.collect.num_episodes = 4096
  config.train.batch_size = 256
  config.train.num_steps = 30_000


def _grasp_mse(config: ml_collections.ConfigDict) -> None:
  config.network.head = 'deterministic'


def _grasp_mixture(config: ml_collections.ConfigDict) -> None:
  """A 5-component mixture whose scales stay below 0.25 (normalised units).

  Capped at 0.25, a component cannot be wide enough to cover both ends of a green bar, so
  the mixture cannot settle on their average, the bar's middle (docs/policies.md, "Multimodal
  actions").
  """
  config.network.head = 'mixture'
  config.network.max_scale = 0.25


def _chunked(config: ml_collections.ConfigDict, head: str) -> None:
  """`head` over chunks of 8 actions, 4 executed before replanning (Diffusion Policy's
  receding horizon at this task's time scale: a sidestep is about 8 steps)."""
  config.network.head = head
  config.network.chunk.update(horizon=8, execute_steps=4)


def _obstacle_mixture(config: ml_collections.ConfigDict) -> None:
  """A per-step mixture: it can hold both ways round, but re-decides every step."""
  config.network.head = 'mixture'
  config.network.max_scale = 0.25


def _binned_actions(config: ml_collections.ConfigDict) -> None:
  """Discrete actions: each (normalised) action dimension in 21 bins, cross-entropy."""
  config.network.head = 'categorical'


def _reach_multi_task(config: ml_collections.ConfigDict) -> None:
  """One policy for reach_multi's 3 targets, told which by a learned 8-D task embedding
  concatenated to the state features (the reference fusion); `--config.network.task.fusion=
  film` swaps in FiLM. Without conditioning the policy cannot know the wanted target."""
  config.network.task.update(fusion='concat', factor_sizes=(3,))


def _offline(config: ml_collections.ConfigDict) -> None:
  """No environment: data from elsewhere (`data.path`, `data.format`), trained and scored
  by held-out action error and per-dimension R^2; closed-loop success is unavailable."""
  config.env = common.offline_env_config()
  config.data.format = 'envlogger'


# name -> (task, what the preset changes in the task's default config).
PRESETS = {
    'offline': ('reach', _offline),
    'reach_image': ('reach', _reach_image),
    'push_image': ('push', _push_image),
    'grasp_mse': ('grasp_multimodal', _grasp_mse),
    'grasp_mixture': ('grasp_multimodal', _grasp_mixture),
    'reach_discrete': ('reach', _binned_actions),
    'reach_multi_task': ('reach_multi', _reach_multi_task),
    'obstacle_mse': ('obstacle', _grasp_mse),
    'obstacle_mixture': ('obstacle', _obstacle_mixture),
    'obstacle_diffusion': ('obstacle', lambda config: _chunked(config, 'diffusion')),
    'obstacle_flow': ('obstacle', lambda config: _chunked(config, 'flow')),
}


def get_config(arg: str = 'reach', more_presets=()) -> ml_collections.ConfigDict:
  """`more_presets`: the names of presets of config files built on this one, for the error
  an unknown name gets."""
  name, _, rest = (arg or 'reach').partition(',')
  preset = None
  if name in PRESETS:
    task, preset = PRESETS[name]
    arg = ','.join(filter(None, [task, rest]))
  args = common.parse_arg(arg, presets=[*PRESETS, *more_presets], task='reach', image=False,
                           debug=False)
  config = ml_collections.ConfigDict()
  config.algorithm = 'bc'
  config.seed = 0
  config.num_devices = 0  # 0: all devices (of every process); the batch is split across them.
  # Multi-host (JAX's multi-controller runtime, one process per host; docs/scale.md "GPU, TPU and
  # multi-host"): an explicit coordinator (host:port of process 0, the number of processes
  # and this one's id), or auto=True to read the cluster's environment (SLURM, Open MPI,
  # Cloud TPU, ...). Neither: one process.
  config.distributed = dict(coordinator_address='', num_processes=0, process_id=-1,
                            auto=False, timeout_s=300)
  config.progress_bar = True
  # Members trained as one vmapped program (docs/scale.md, "Many seeds in one program"): num_seeds
  # seeds (seed, seed + 1, ...), each with its own demos, init, data order and evaluation
  # episodes, for each of vmap.values of the hyperparameter vmap.name (one that changes no
  # shape: optimizer.learning_rate, or optimizer.weight_decay with adamw). members_at_once:
  # members vmapped at a time per platform, the rest in turn in the same program (0: all);
  # on a CPU all members at once outgrow the caches (docs/scale.md).
  config.num_seeds = 1
  config.vmap = dict(name='', values=(), members_at_once=dict(cpu=4, gpu=0, tpu=0))

  config.env = common.env_config(args['task'])
  # Used only when data.path is empty: the default expert demonstrations.
  config.collect = common.collect_config(args['task'], seed=config.get_ref('seed'))

  config.data = ml_collections.ConfigDict()
  # An RLDS dataset directory, or several comma-separated (a mixture, e.g. one per task);
  # '' collects into WORKDIR/demos.
  config.data.path = ''
  config.data.split = 'train'
  # The dataset's layout (imitation/data/formats.py): imitation (ours) | envlogger |
  # open_x | robomimic | maniskill | minari | lerobot; fields renames what it calls its fields (empty: the layout's default): state (observation keys
  # concatenated, in order), image ('none': no camera), action, task (a step's instruction
  # string or task id).
  config.data.format = 'imitation'
  config.data.fields = dict(state=(), image='', action='', task='')
  # Instruction strings in task-id order; empty: ids in order of first appearance.
  config.data.task_names = ()
  config.data.action_key = 'action'  # or 'expert_action' (the expert's labels)
  config.data.max_episodes = 0  # per dataset; 0 keeps all
  config.data.only_successful = False
  config.data.min_return = float('-inf')
  # Quality filters (imitation/data/quality.py): keep only these sources (e.g. ('expert',));
  # drop episodes by a stored quality score (experiments/diagnose.py writes them next to
  # the dataset): rule flagged (the score's outliers) | threshold | quantile (worst share).
  config.data.filter = dict(sources=(), score='', rule='flagged', threshold=0.0,
                            quantile=0.0, scores_path='')
  # How often each task id is sampled (multi-task data): size (as in the data) | uniform
  # (every task alike) | explicit (task_shares, one per task id).
  config.data.task_mixture = 'size'
  config.data.task_shares = ()
  # Device-resident data: replicated on every device, or sharded (episode i on device
  # i mod num_devices, each device sampling its part of every batch; each process reads
  # only its devices' episodes). auto: sharded on more than one device.
  config.data.layout = 'auto'
  # Where training batches come from: device (the dataset held in device memory, sampled
  # there: fastest while it fits) | stream (read from disk with grain, for datasets larger
  # than memory: converted once into transition records in stream_dir, '' = WORKDIR/stream).
  config.data.pipeline = 'device'
  config.data.stream_dir = ''
  # Streaming: reader threads, chunks (steps_per_call updates' rows) read ahead on the host,
  # chunks placed on the devices ahead.
  config.data.streaming = dict(num_threads=4, prefetch=4, device_prefetch=2)
  # Offline runs (no environment, env.name=''): the share of episodes held out of training
  # to score the policy by action error and R^2.
  config.data.holdout_fraction = 0.1

  # experiments/export.py: the data above (as a run reads it: format, fields, filters)
  # written as a LeRobotDataset v3.0 (imitation/data/lerobot.py) in WORKDIR: the camera as
  # mp4 video (codec libsvtav1 | h264 | hevc, constant rate factor, pixel format yuv420p |
  # yuv444p; LeRobot's defaults) or, video=False, as lossless PNG frames inside the parquet
  # file; data.task_names[i] is task id i's string; fps 0: the env's control rate.
  config.export = dict(video=True, codec='libsvtav1', crf=30, pixel_format='yuv420p', fps=0)

  config.normalization = ml_collections.ConfigDict()
  config.normalization.observations = True
  config.normalization.actions = True
  config.normalization.min_std = 1e-3

  # Per-episode quality scores (imitation/evaluation/quality.py, experiments/diagnose.py):
  # replay (success and expert agreement of the recorded actions played again) and crossfit
  # (K policies, each trained without one fold of episodes, score that fold; their spread
  # is the ensemble disagreement). Outliers beyond outlier_mads robust stds are flagged.
  # agreement_tolerance: the mean squared distance to the expert's actions that flags.
  config.quality = dict(scores=('replay', 'crossfit'), num_folds=5, num_steps=2000,
                        batch_size=256, hidden_sizes=(256, 256), outlier_mads=3.0,
                        agreement_tolerance=0.01)

  config.network = ml_collections.ConfigDict()
  # mlp (state) | cnn | vit (image, + state if use_state) | entities (state as entities read
  # by one attention query per task factor: networks/conditioning.py FactorAttention)
  config.network.encoder = 'mlp'
  config.network.hidden_sizes = (256, 256)  # the state MLP
  config.network.activation = 'relu'
  config.network.layer_norm = False
  config.network.use_state = False  # image encoders: also encode `state` and concatenate
  # The default CNN; pooling: mean (global average) | spatial_softmax (keypoints, positions).
  config.network.cnn = dict(channels=(64, 64, 64), hidden_sizes=(256, 128), pooling='mean',
                            group_norm=False, learn_temperature=False,
                            strides=(1, 2, 2))
  config.network.vit = dict(patch_size=8, width=128, depth=4, num_heads=4)
  # slot_values: the values carry which entity they are (False: the entity's content alone)
  config.network.entities = dict(entity_size=4, width=64, slot_values=True)
  # deterministic | gaussian | mixture | categorical | diffusion | flow
  config.network.head = 'deterministic'
  config.network.squash = False  # deterministic head: tanh on the (normalised) action
  # Gaussian / mixture scale range (normalised action units); the floor keeps the NLL from
  # rewarding ever-narrower components.
  config.network.min_scale = 0.05
  config.network.max_scale = 2.0
  config.network.bound = 'none'  # gaussian / mixture means: none | tanh | clip
  config.network.bound_limit = 3.0  # |mean| bound in the (normalised) action space
  config.network.num_components = 5  # mixture
  config.network.num_bins = 21  # categorical: bins per action dimension on [bin_low, bin_high]
  config.network.bin_low = -3.0
  config.network.bin_high = 3.0
  # Generative heads (networks/generative.py): a denoiser MLP (width x depth residual FiLM
  # blocks) over the action (or the flattened chunk), conditioned on the features.
  # diffusion: DDPM noise prediction over train_steps, sampled by ddim (deterministic) or
  # ddpm at inference_steps evenly spaced steps; schedule cosine | linear; clip_sample > 0
  # clips the predicted clean action to +-clip_sample (normalised units; 0: off): at the
  # first steps the signal fraction is ~1e-7 and an unclipped estimate amplifies the
  # denoiser's error a thousandfold (Diffusion Policy clips its [-1, 1] actions alike).
  config.network.diffusion = dict(width=256, depth=3, train_steps=100, inference_steps=10,
                                  schedule='cosine', sampler='ddim', clip_sample=3.0)
  # flow: rectified flow (velocity from noise to action), inference_steps Euler steps.
  config.network.flow = dict(width=256, depth=3, inference_steps=10)
  # Action chunking (every head): the policy predicts the next `horizon` actions, executes
  # `execute_steps` of them, then replans (receding horizon); temporal_ensemble (ACT)
  # replans every step (execute_steps=1) and executes the average of every chunk's
  # prediction for this step, chunk i steps old weighted exp(-ensemble_decay * i).
  config.network.chunk = dict(horizon=1, execute_steps=1, temporal_ensemble=False,
                              ensemble_decay=0.01)
  # The policy reads this many observations (this one and those before it; the episode
  # start repeats the first), in training and when acting.
  config.network.observation_history = 1
  # Task conditioning on obs['task_id'] (multi-task environments): fusion none | concat |
  # film. The embedding sums, concatenates or multiplies one vector per factor value;
  # factor_sizes lists each factor's number of values (their product: the number of task ids).
  # per_task_heads: one action head per task id (tasks whose actions mean different things).
  # embedding_factors: the factors (indices) the embedding is built from; () is all of them.
  config.network.task = dict(fusion='none', embedding_dim=8, factor_sizes=(), combine='sum',
                             hidden_sizes=(128, 64), per_task_heads=False,
                             embedding_factors=())

  # Image augmentation inside the compiled step (only when observations have an image).
  config.augment = ml_collections.ConfigDict()
  config.augment.random_shift_pad = 4  # DrQ-style shift in pixels; 0 turns it off

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = 'cosine'
  config.optimizer.warmup_steps = 0
  config.optimizer.final_lr_fraction = 0.01
  config.optimizer.weight_decay = 0.0
  config.optimizer.grad_clip_norm = 1.0

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 20_000
  config.train.batch_size = 256
  config.train.steps_per_call = 500  # updates fused into one compiled call
  config.train.scan_unroll = 1  # updates unrolled per loop iteration (see training/chunk.py)
  config.train.eval_every = 5_000
  config.train.checkpoint_every = 5_000
  config.train.keep_checkpoints = 2
  # Train metrics are read back, checked by the NaN guard and logged once per this many
  # steps (and at every evaluation, checkpoint and the end), as one mean: in between, the
  # host dispatches chunk after chunk without waiting for one (docs/performance.md).
  config.train.log_every = 500
  # An exponential moving average of the weights (0: off): evaluated and exported instead
  # of the live weights, checkpointed with them; the decay ramps up as (1 + t) / (10 + t).
  config.train.ema_decay = 0.0

  config.eval = ml_collections.ConfigDict()
  config.eval.num_episodes = 256
  config.eval.deterministic = True
  # experiments.evaluate: which policy, and the rollout videos it writes.
  config.eval.policy_dir = ''  # '' = WORKDIR/policy
  config.eval.video_episodes = 4
  config.eval.video_size = 128
  # Diffusion / flow policies: sample in this many steps instead of the trained number (0).
  config.eval.inference_steps = 0

  if preset is not None:
    preset(config)
  if args['image']:
    image_policy(config)
  if args['debug']:
    config.collect.num_episodes = 16
    config.collect.num_parallel_envs = 16
    config.network.hidden_sizes = (32, 32)
    config.train.num_steps = 40
    config.train.batch_size = 32
    config.train.steps_per_call = 10
    config.train.eval_every = 20
    config.train.checkpoint_every = 20
    config.train.log_every = 10
    config.eval.num_episodes = 16
    config.eval.video_episodes = 2
    config.eval.video_size = 32
    config.quality.num_steps = 100
    config.progress_bar = False
  return config
