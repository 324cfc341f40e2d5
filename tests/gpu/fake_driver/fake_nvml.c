/*
 * A stand-in for the NVIDIA driver's libnvidia-ml.so.1, for machines without a GPU.
 *
 * It is compiled against NVIDIA's own nvml.h (the nvidia-nvml-dev wheel), so every entry
 * point below has the exact prototype the real library exports, and it is loaded by the
 * real nvidia-ml-py bindings (`import pynvml`) as the driver's library is: what is tested
 * is claudio-ci's NVML code and NVIDIA's bindings, with only the hardware replaced.
 *
 * The machine it pretends to be is a text file named by $CLAUDIO_FAKE_NVML, re-read at
 * every call so that a test (or the measured command itself) can change it while a run
 * goes on. One record per line, `key=value` fields, `name=` last (it runs to the end of
 * the line):
 *
 *   gpu uuid=GPU-0 memory=85899345920 watts=350 name=NVIDIA H100 80GB HBM3
 *       energy=<mJ> the counter at nvmlInit (default 0); energy=none: no counter (pre-Volta)
 *       watts=<W>   the draw: the counter grows by it, the power reading is it (default 0)
 *       power=none  no power reading; processes=none: NVML cannot list processes here
 *       mig=1       MIG enabled (its slices are `mig` records), slices=7 compute slices in
 *                   all; private=1: the board's memory totals and GPU-instance profiles
 *                   need privileges in MIG mode
 *       lost=1      fallen off the bus: every call on it fails with GPU_IS_LOST
 *   mig parent=GPU-1 slot=0 uuid=MIG-a memory=21474836480 slices=3 name=NVIDIA A100 MIG 3g.20gb
 *   proc gpu=GPU-0 pid=4242 memory=1073741824 kind=compute   (graphics, mps; memory=none)
 *   init error=9        nvmlInit fails with this NVML error code
 *
 * No file, or no variable: nvmlInit fails with NVML_ERROR_DRIVER_NOT_LOADED. Built with
 * -DFAKE_NVML_OLD_DRIVER it exports the process lists' `_v2` calls only, as drivers before
 * the `_v3` ones did.
 */
#define NVML_NO_UNVERSIONED_FUNC_DEFS
#include <nvml.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BOARDS 16
#define MAX_SLOTS 7
#define MAX_PROCS 64
#define LINE 512

struct nvmlDevice_st { /* a handle: which board, and which MIG slot (-1: the board) */
    int board;
    int slot;
};

typedef struct {
    int present;
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned long long memory;
    unsigned int compute_slices;
} Slice;

typedef struct {
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned long long memory, energy;
    double watts;
    int has_energy, has_power, lists_processes, mig, private_memory, lost;
    unsigned int compute_slices;
    Slice slices[MAX_SLOTS];
} Board;

typedef enum { COMPUTE, GRAPHICS, MPS } Kind;

typedef struct {
    char gpu[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    unsigned int pid;
    unsigned long long memory;
    Kind kind;
} Proc;

static struct {
    Board boards[MAX_BOARDS];
    int board_count;
    Proc procs[MAX_PROCS];
    int proc_count;
    int init_error;
} machine;

static struct nvmlDevice_st handles[MAX_BOARDS][MAX_SLOTS + 1];
static int initialised;
static struct timespec started;

/* The text after ` key=` in a record, up to the next space (or the line's end for name). */
static int field(const char *line, const char *key, char *out, size_t size) {
    char pattern[32];
    snprintf(pattern, sizeof pattern, " %s=", key);
    const char *at = strstr(line, pattern);
    if (!at)
        return 0;
    at += strlen(pattern);
    size_t length = strcmp(key, "name") == 0 ? strcspn(at, "\n") : strcspn(at, " \n");
    if (length >= size)
        length = size - 1;
    memcpy(out, at, length);
    out[length] = '\0';
    return 1;
}

static unsigned long long number(const char *line, const char *key, unsigned long long fallback) {
    char text[64];
    return field(line, key, text, sizeof text) ? strtoull(text, NULL, 10) : fallback;
}

static int is_none(const char *line, const char *key) {
    char text[16];
    return field(line, key, text, sizeof text) && strcmp(text, "none") == 0;
}

static Board *board_named(const char *uuid) {
    for (int i = 0; i < machine.board_count; i++)
        if (strcmp(machine.boards[i].uuid, uuid) == 0)
            return &machine.boards[i];
    return NULL;
}

static void read_record(const char *line) {
    char text[64];
    if (strncmp(line, "gpu ", 4) == 0 && machine.board_count < MAX_BOARDS) {
        Board *b = &machine.boards[machine.board_count++];
        memset(b, 0, sizeof *b);
        field(line, "uuid", b->uuid, sizeof b->uuid);
        field(line, "name", b->name, sizeof b->name);
        b->memory = number(line, "memory", 0);
        b->energy = is_none(line, "energy") ? 0 : number(line, "energy", 0);
        b->has_energy = !is_none(line, "energy");
        b->has_power = !is_none(line, "power");
        b->lists_processes = !is_none(line, "processes");
        b->watts = field(line, "watts", text, sizeof text) ? atof(text) : 0.0;
        b->mig = (int)number(line, "mig", 0);
        b->compute_slices = (unsigned int)number(line, "slices", 7);
        b->private_memory = (int)number(line, "private", 0);
        b->lost = (int)number(line, "lost", 0);
    } else if (strncmp(line, "mig ", 4) == 0) {
        field(line, "parent", text, sizeof text);
        Board *b = board_named(text);
        unsigned long long slot = number(line, "slot", MAX_SLOTS);
        if (b && slot < MAX_SLOTS) {
            Slice *s = &b->slices[slot];
            s->present = 1;
            field(line, "uuid", s->uuid, sizeof s->uuid);
            field(line, "name", s->name, sizeof s->name);
            s->memory = number(line, "memory", 0);
            s->compute_slices = (unsigned int)number(line, "slices", 1);
        }
    } else if (strncmp(line, "proc ", 5) == 0 && machine.proc_count < MAX_PROCS) {
        Proc *p = &machine.procs[machine.proc_count++];
        field(line, "gpu", p->gpu, sizeof p->gpu);
        p->pid = (unsigned int)number(line, "pid", 0);
        p->memory = is_none(line, "memory") ? (unsigned long long)NVML_VALUE_NOT_AVAILABLE
                                             : number(line, "memory", 0);
        p->kind = !field(line, "kind", text, sizeof text) ? COMPUTE
                  : strcmp(text, "graphics") == 0       ? GRAPHICS
                  : strcmp(text, "mps") == 0            ? MPS
                                                        : COMPUTE;
    } else if (strncmp(line, "init ", 5) == 0) {
        machine.init_error = (int)number(line, "error", NVML_ERROR_UNKNOWN);
    }
}

/* Re-read the machine; 0 when there is no file (no driver). */
static int load(void) {
    const char *path = getenv("CLAUDIO_FAKE_NVML");
    FILE *file = path ? fopen(path, "r") : NULL;
    if (!file)
        return 0;
    memset(&machine, 0, sizeof machine);
    char line[LINE];
    while (fgets(line, sizeof line, file))
        read_record(line);
    fclose(file);
    return 1;
}

static double seconds_since_init(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
}

/* The board or slice behind a handle, after re-reading the machine; an NVML error if none. */
static nvmlReturn_t resolve(nvmlDevice_t device, Board **board, Slice **slice) {
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (!device || !load() || device->board >= machine.board_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *board = &machine.boards[device->board];
    *slice = device->slot < 0 ? NULL : &(*board)->slices[device->slot];
    if (*slice && !(*slice)->present)
        return NVML_ERROR_INVALID_ARGUMENT;
    return (*board)->lost ? NVML_ERROR_GPU_IS_LOST : NVML_SUCCESS;
}

#define RESOLVE(device)                                                                        \
    Board *board;                                                                              \
    Slice *slice;                                                                              \
    nvmlReturn_t status = resolve(device, &board, &slice);                                     \
    if (status != NVML_SUCCESS)                                                                \
        return status;

static nvmlReturn_t copy_text(const char *text, char *out, unsigned int length) {
    if (!out || strlen(text) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, text);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    if (!load())
        return NVML_ERROR_DRIVER_NOT_LOADED;
    if (machine.init_error)
        return (nvmlReturn_t)machine.init_error;
    if (initialised++ == 0)
        clock_gettime(CLOCK_MONOTONIC, &started);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t DECLDIR nvmlShutdown(void) {
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    initialised--;
    return NVML_SUCCESS;
}

const DECLDIR char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

nvmlReturn_t DECLDIR nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (!deviceCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    load();
    *deviceCount = (unsigned int)machine.board_count;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (!initialised)
        return NVML_ERROR_UNINITIALIZED;
    load();
    if (!device || index >= (unsigned int)machine.board_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    handles[index][0] = (struct nvmlDevice_st){(int)index, -1};
    *device = &handles[index][0];
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    RESOLVE(device)
    return copy_text(slice ? slice->uuid : board->uuid, uuid, length);
}

nvmlReturn_t DECLDIR nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    RESOLVE(device)
    return copy_text(slice ? slice->name : board->name, name, length);
}

static unsigned long long memory_used(const char *uuid) {
    unsigned long long used = 0;
    for (int i = 0; i < machine.proc_count; i++)
        if (strcmp(machine.procs[i].gpu, uuid) == 0 &&
            machine.procs[i].memory != (unsigned long long)NVML_VALUE_NOT_AVAILABLE)
            used += machine.procs[i].memory;
    return used;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    RESOLVE(device)
    if (!memory)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!slice && board->mig && board->private_memory)
        return NVML_ERROR_NO_PERMISSION; /* nvml.h: a MIG board's totals need privileges */
    const char *uuid = slice ? slice->uuid : board->uuid;
    memory->total = slice ? slice->memory : board->memory;
    memory->used = memory_used(uuid);
    memory->free = memory->total > memory->used ? memory->total - memory->used : 0;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                         unsigned long long *energy) {
    RESOLVE(device)
    if (slice || !board->has_energy) /* NVML cannot split a board's energy between slices */
        return NVML_ERROR_NOT_SUPPORTED;
    if (!energy)
        return NVML_ERROR_INVALID_ARGUMENT;
    *energy = board->energy + (unsigned long long)(board->watts * seconds_since_init() * 1000);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    RESOLVE(device)
    if (slice || !board->has_power)
        return NVML_ERROR_NOT_SUPPORTED;
    if (!power)
        return NVML_ERROR_INVALID_ARGUMENT;
    *power = (unsigned int)(board->watts * 1000);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                          unsigned int *pendingMode) {
    RESOLVE(device)
    if (slice || !board->mig) /* the boards here are not MIG-capable unless told */
        return NVML_ERROR_NOT_SUPPORTED;
    if (!currentMode || !pendingMode)
        return NVML_ERROR_INVALID_ARGUMENT;
    *currentMode = *pendingMode = NVML_DEVICE_MIG_ENABLE;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
    RESOLVE(device)
    if (slice || !board->mig)
        return NVML_ERROR_NOT_SUPPORTED;
    if (!count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *count = board->compute_slices < MAX_SLOTS ? board->compute_slices : MAX_SLOTS;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                         nvmlDevice_t *migDevice) {
    RESOLVE(device)
    if (slice || !board->mig || index >= MAX_SLOTS || !migDevice)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!board->slices[index].present)
        return NVML_ERROR_NOT_FOUND;
    handles[device->board][index + 1] = (struct nvmlDevice_st){device->board, (int)index};
    *migDevice = &handles[device->board][index + 1];
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetAttributes_v2(nvmlDevice_t device,
                                               nvmlDeviceAttributes_t *attributes) {
    RESOLVE(device)
    if (!slice) /* nvml.h: "currently only supports MIG device handles" */
        return NVML_ERROR_NOT_SUPPORTED;
    if (!attributes)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(attributes, 0, sizeof *attributes);
    attributes->gpuInstanceSliceCount = slice->compute_slices;
    attributes->computeInstanceSliceCount = slice->compute_slices;
    attributes->multiprocessorCount = 16 * slice->compute_slices;
    attributes->memorySizeMB = slice->memory >> 20;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device, unsigned int profile,
                                                          nvmlGpuInstanceProfileInfo_v2_t *info) {
    static const unsigned int slice_counts[] = {1, 2, 3, 4, 7, 8, 6};
    RESOLVE(device)
    if (!info || info->version != nvmlGpuInstanceProfileInfo_v2)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (slice || !board->mig || profile >= sizeof slice_counts / sizeof *slice_counts)
        return NVML_ERROR_NOT_SUPPORTED;
    if (board->private_memory)
        return NVML_ERROR_NO_PERMISSION;
    unsigned int count = slice_counts[profile];
    if (count != board->compute_slices && (count > 4 || count > board->compute_slices))
        return NVML_ERROR_NOT_SUPPORTED; /* the board's profiles: 1, 2, 3, 4 slices and all */
    memset((char *)info + sizeof info->version, 0, sizeof *info - sizeof info->version);
    info->id = profile;
    info->sliceCount = count;
    info->instanceCount = board->compute_slices / count;
    info->multiprocessorCount = 16 * count;
    info->memorySizeMB = (board->memory >> 20) * count / 8;
    snprintf(info->name, sizeof info->name, "%ug", count);
    return NVML_SUCCESS;
}

/* The process lists: a first call with no buffer asks for the count. */
static nvmlReturn_t processes(nvmlDevice_t device, unsigned int *infoCount,
                              nvmlProcessInfo_t *infos, Kind kind) {
    RESOLVE(device)
    if (!board->lists_processes)
        return NVML_ERROR_NOT_SUPPORTED;
    if (!infoCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    const char *uuid = slice ? slice->uuid : board->uuid;
    unsigned int found = 0;
    for (int i = 0; i < machine.proc_count; i++) {
        Proc *p = &machine.procs[i];
        if (strcmp(p->gpu, uuid) || p->kind != kind)
            continue;
        if (infos && found < *infoCount)
            infos[found] = (nvmlProcessInfo_t){p->pid, p->memory, slice ? 1u : 0xFFFFFFFFu,
                                               slice ? 0u : 0xFFFFFFFFu};
        found++;
    }
    unsigned int room = *infoCount;
    *infoCount = found;
    return found > room || (found && !infos) ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
}

#define PROCESS_LIST(name, kind)                                                               \
    nvmlReturn_t DECLDIR name(nvmlDevice_t device, unsigned int *infoCount,                   \
                              nvmlProcessInfo_t *infos) {                                      \
        return processes(device, infoCount, infos, kind);                                      \
    }

PROCESS_LIST(nvmlDeviceGetComputeRunningProcesses_v2, COMPUTE)
PROCESS_LIST(nvmlDeviceGetGraphicsRunningProcesses_v2, GRAPHICS)
PROCESS_LIST(nvmlDeviceGetMPSComputeRunningProcesses_v2, MPS)
#ifndef FAKE_NVML_OLD_DRIVER
PROCESS_LIST(nvmlDeviceGetComputeRunningProcesses_v3, COMPUTE)
PROCESS_LIST(nvmlDeviceGetGraphicsRunningProcesses_v3, GRAPHICS)
PROCESS_LIST(nvmlDeviceGetMPSComputeRunningProcesses_v3, MPS)
#endif
