"""Config sections shared by every experiment: the task and how its demos are collected.

Each task's environment settings live here once, so collection, BC and later DAgger
runs of a task agree on them.
"""

import ml_collections

_NO_NOISE = dict(relative_std=0.0, absolute_std=0.0)

# Per task: environment kwargs (see the task module's constructor), episode horizon, and
# how many expert demonstrations a default run collects.
TASKS = {
    'reach': dict(
        kwargs=dict(success_radius=0.02, image_size=0), horizon=50, num_demos=256
    ),
    'drive': dict(
        kwargs=dict(
            track_radius=3.0, track_wobble=0.12, lane_half_width=0.3, speed=1.5,
            max_steer=0.5, max_steer_rate=2.0, init_offset=0.0, init_heading=0.0,
            expert_lookahead=0.8, image_size=0,
        ),
        horizon=300,
        # Few clean demos: the regime where BC's small per-step errors compound (docs/dagger.md).
        num_demos=8,
        # Deployed with steering execution noise of std 0.2 (10% of the [-1, 1] range);
        # demonstrated with a clean actuator.
        action_noise=dict(relative_std=0.0, absolute_std=0.2),
        demo_action_noise=dict(relative_std=0.0, absolute_std=0.0),
    ),
    'push': dict(
        kwargs=dict(success_radius=0.05, max_speed=0.8, puck_damping=2.0, image_size=0),
        horizon=200,
        num_demos=256,
    ),
    'grasp': dict(kwargs=dict(multimodal_fraction=0.0, image_size=0), horizon=1, num_demos=2048),
    'grasp_multimodal': dict(
        kwargs=dict(multimodal_fraction=0.5, image_size=0), horizon=1, num_demos=2048
    ),
    # Around a disk on the left or the right, chosen per episode (imitation/envs/obstacle.py):
    # per-step heads average or switch between the two ways; action chunks commit to one.
    'obstacle': dict(kwargs=dict(start_spread=0.05, image_size=0), horizon=60, num_demos=256),
    'reach_multi': dict(
        # Holding out task 0 in sector 0 lets a run measure success on that novel pair.
        kwargs=dict(num_targets=3, held_out=((0, 0),), mode='train', image_size=0),
        horizon=50,
        num_demos=256,
        # Evaluation on the held-out pairs: the env kwargs that produce only them.
        held_out_kwargs=dict(mode='held_out'),
        task_factors=(3,),
    ),
    'tabletop': dict(
        # Grasp, push and insert (imitation/envs/tabletop.py). Held out of training: push
        # red -> pad 0, push blue -> pad 2, insert green -> pad 1, insert red -> pad 2
        # ((task, colour, pad) indices); every factor value is still seen in training.
        kwargs=dict(tasks=('grasp', 'push', 'insert'),
                    held_out=((1, 0, 0), (1, 2, 2), (2, 1, 1), (2, 0, 2)), mode='train',
                    image_size=0),
        horizon=1,
        num_demos=4096,
        held_out_kwargs=dict(mode='held_out'),
        task_factors=(3, 3, 3),  # task x colour x pad
    ),
    'pick_place': dict(
        # Carry the named block onto the named pad (imitation/envs/pick_place.py): phases that
        # must each land within millimetres, so small errors compound. Held out of training:
        # red -> pad 0, green -> pad 1, blue -> pad 2 ((colour, pad) indices); every colour and
        # every pad is still seen in training.
        kwargs=dict(tasks=('red', 'green', 'blue'), held_out=((0, 0), (1, 1), (2, 2)),
                    mode='train', image_size=0),
        horizon=50,
        num_demos=64,
        # Deployed with the source's 5-10% actuator error, demonstrated with a clean one.
        action_noise=dict(relative_std=0.1, absolute_std=0.05),
        demo_action_noise=dict(relative_std=0.0, absolute_std=0.0),
        held_out_kwargs=dict(mode='held_out'),
        task_factors=(3, 3),  # colour x pad
    ),
}

# The heterogeneous suite: the single tasks above in one policy, observations and actions
# padded (imitation/envs/suite.py); each member with its own settings and horizon, without
# actuator noise. Members are drawn alike, so 1,024 demos are about 256 episodes of each.
SUITE_TASKS = ('reach', 'push', 'drive', 'grasp')
TASKS['suite'] = dict(
    kwargs=dict(members=SUITE_TASKS, tasks=SUITE_TASKS,
                member_kwargs={t: dict(TASKS[t]['kwargs']) for t in SUITE_TASKS},
                horizons={t: TASKS[t]['horizon'] for t in SUITE_TASKS}),
    horizon=max(TASKS[t]['horizon'] for t in SUITE_TASKS),
    num_demos=1024,
    task_factors=(len(SUITE_TASKS),),
)


def parse_arg(arg: str, presets=(), **defaults):
  """'reach,debug' -> {'task': 'reach', 'debug': True}; the first token is the task (the
  config file's `presets` are named when it is neither a task nor one of them)."""
  tokens = [t for t in (arg or '').split(',') if t]
  parsed = dict(defaults)
  if tokens and '=' not in tokens[0] and tokens[0] not in defaults:
    parsed['task'] = tokens.pop(0)
  for token in tokens:
    key, _, value = token.partition('=')
    if key not in defaults:
      raise ValueError(f'unknown config arg {key!r}; known: {sorted(defaults)}')
    parsed[key] = True if not value else type(defaults[key])(value)
  if parsed.get('task') not in TASKS:
    known = f'tasks: {", ".join(sorted(TASKS))}'
    if presets:
      known += f'; presets: {", ".join(sorted(presets))}'
    raise ValueError(f'unknown task or preset {parsed.get("task")!r} ({known})')
  return parsed


def task_factors(task: str) -> tuple:
  """The sizes of a multi-task suite's task factors (their product: the number of task ids)."""
  if 'task_factors' not in TASKS[task]:
    raise ValueError(f'{task!r} is not a multi-task environment; multi-task ones: '
                     f'{sorted(t for t in TASKS if "task_factors" in TASKS[t])}')
  return tuple(TASKS[task]['task_factors'])


def env_config(task: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      name=task,
      kwargs=dict(TASKS[task]['kwargs']),
      horizon=TASKS[task]['horizon'],
      # Actuator execution error where policies are deployed (evaluation, DAgger rollouts):
      # executed = a * (1 + relative_std * n1) + absolute_std * n2.
      action_noise=dict(TASKS[task].get('action_noise', _NO_NOISE)),
      # Image observations of the last N steps stacked along channels (1: the current one).
      frame_stack=1,
      # Multi-task suites: kwargs that make the env draw only held-out task combinations;
      # when set, runs also evaluate there and report `held_out` in results.json.
      held_out_kwargs=dict(TASKS[task].get('held_out_kwargs', {})),
  ))


def offline_env_config() -> ml_collections.ConfigDict:
  """No environment (name ''): training on data alone, scored offline (configs/bc.py)."""
  return ml_collections.ConfigDict(dict(
      name='', kwargs={}, horizon=0, action_noise=dict(_NO_NOISE), frame_stack=1,
      held_out_kwargs={}))


def collect_config(task: str, seed=0) -> ml_collections.ConfigDict:
  """`seed` may be a FieldReference, so that overriding the run's seed changes the demos."""
  return ml_collections.ConfigDict(dict(
      num_episodes=TASKS[task]['num_demos'],
      num_parallel_envs=256,
      seed=seed,
      # The actuator the demonstrations were recorded with; it replaces env.action_noise
      # during collection (a clean demonstrator and a noisy deployment is covariate shift).
      action_noise=dict(TASKS[task].get('demo_action_noise', _NO_NOISE)),
      # Mixed-quality data: the share of episodes each worse demonstrator plays (the rest:
      # the expert), recorded as the episode's source. noisy_expert adds Gaussian noise of
      # std noisy_std to every action; biased_expert adds a constant offset of norm `bias`
      # in a direction drawn per episode (it settles off target and mostly fails); policy
      # is a previous policy (the exported one in policy_dir, by its mode: "self-play").
      mixture=dict(noisy_expert=0.0, biased_expert=0.0, policy=0.0),
      noisy_std=0.5,
      bias=0.5,
      policy_dir='',
      # The dataset's TFDS name and version: it is written to DATA_DIR/NAME/VERSION, where
      # `tfds.builder(NAME, data_dir=DATA_DIR)` finds it.
      dataset_name=f'{task}_expert',
      dataset_version='1.0.0',
      # State-only demonstrations (what a video or motion capture records): the dataset is
      # written without `action` (and `expert_action`); the actions are kept aside in
      # ACTIONS_ASIDE_FILE beside it, read only to score inferred labels (agents/bco.py).
      drop_actions=False,
  ))


def add_study_engine(study: ml_collections.ConfigDict) -> None:
  """Who runs a study's runs: `local` (one after another in this process) or `ray` (Ray Tune
  trials: a local Ray instance, or the cluster at `ray_address`; resources per trial)."""
  study.engine = 'local'
  study.ray_address = ''
  study.cpus_per_trial = 2.0
  study.gpus_per_trial = 0.0
