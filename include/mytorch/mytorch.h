/* mytorch: everything in one include. */
#ifndef MYTORCH_H
#define MYTORCH_H

#include "mytorch/checkpoint.h"
#include "mytorch/core.h"
#include "mytorch/data.h"
#include "mytorch/file.h"
#include "mytorch/image.h"
#include "mytorch/io.h"
#include "mytorch/models.h"
#include "mytorch/nn.h"
#include "mytorch/ops.h"
#include "mytorch/optim.h"

#endif
