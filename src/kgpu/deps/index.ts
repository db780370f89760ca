// A project's dependencies, installed once (issue 22): a virtual environment in the pod per
// project and dependency-file hash, made before a run and reused while the files are unchanged.
export {
  depsPlan,
  depsHash,
  venvName,
  DEP_FILES,
  MAX_DEP_FILE_BYTES,
  MAX_INCLUDED_FILES,
  referencedFiles,
  VENVS_DIR,
  type DepFile,
  type DepsPlan,
  type DepsPlanInput,
} from './plan';
export {
  ensureDeps,
  ensurePodDeps,
  installPackages,
  installWithPython,
  maskEnvValues,
  DepsInstallError,
  type DepsState,
  type EnsureDepsOptions,
} from './ensure';
export { gateStart, depsMissing, DEPS_MARKER, DEPS_MISSING_EXIT } from './gate';
export { projectPython, type ProjectPython } from './project';
export { podProjectTop, podTargetPython, type PodTargetPython } from './pod-target';
export {
  missingModule,
  missingModuleFix,
  withRequirement,
  type MissingModule,
  type MissingModuleFix,
  type MissingModuleRun,
} from './missing-module';
